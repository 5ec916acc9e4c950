package httpsink

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// This file holds decoders for the bodies the sink writes, written
// independently of the encoders: encoding/json, and for OTLP the protobuf
// runtime with a descriptor transcribed from opentelemetry-proto
// (logs/v1/logs.proto, common/v1/common.proto, resource/v1/resource.proto).

// shipped is one event as a body carries it.
type shipped struct {
	line []byte
	// unixNano is the time the format carries, -1 when it has none.
	unixNano int64
	attrs    map[string]string
}

// decodeBody returns the events of a body in body order (for loki, stream
// by stream).
func decodeBody(format string, body []byte) ([]shipped, error) {
	switch format {
	case FormatJSON:
		if !json.Valid(body) {
			return nil, errors.New("json: invalid JSON")
		}
		var arr []json.RawMessage
		if err := json.Unmarshal(body, &arr); err != nil {
			return nil, err
		}
		var out []shipped
		for _, e := range arr {
			out = append(out, shipped{line: e, unixNano: -1})
		}
		return out, nil
	case FormatSplunkHEC:
		var out []shipped
		for i, obj := range bytes.Split(body, []byte("\n")) {
			if !json.Valid(obj) {
				return nil, fmt.Errorf("hec: object %d is not valid JSON: %q", i, obj)
			}
			var h map[string]json.RawMessage
			if err := json.Unmarshal(obj, &h); err != nil {
				return nil, err
			}
			for k := range h {
				if !slices.Contains([]string{"time", "host", "source", "sourcetype", "index", "event"}, k) {
					return nil, fmt.Errorf("hec: unexpected key %q", k)
				}
			}
			if string(h["source"]) != `"jit"` || string(h["sourcetype"]) != `"jit:audit"` {
				return nil, fmt.Errorf("hec: source %s sourcetype %s", h["source"], h["sourcetype"])
			}
			ns, err := hecNanos(string(h["time"]))
			if err != nil {
				return nil, err
			}
			attrs := map[string]string{}
			for _, k := range []string{"host", "index"} {
				if v, ok := h[k]; ok {
					var s string
					if err := json.Unmarshal(v, &s); err != nil {
						return nil, fmt.Errorf("hec: %s: %v", k, err)
					}
					attrs[k] = s
				}
			}
			out = append(out, shipped{line: h["event"], unixNano: ns, attrs: attrs})
		}
		return out, nil
	case FormatElasticsearch:
		if !bytes.HasSuffix(body, []byte("\n")) {
			return nil, errors.New("es: the body must end with a newline")
		}
		lines := bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n"))
		if len(lines)%2 != 0 {
			return nil, fmt.Errorf("es: %d lines, want pairs", len(lines))
		}
		var out []shipped
		for i := 0; i < len(lines); i += 2 {
			var action map[string]map[string]string
			if !json.Valid(lines[i]) || !json.Valid(lines[i+1]) {
				return nil, fmt.Errorf("es: invalid JSON at line %d", i+1)
			}
			if err := json.Unmarshal(lines[i], &action); err != nil || len(action) != 1 || action["create"] == nil {
				return nil, fmt.Errorf("es: action %q", lines[i])
			}
			out = append(out, shipped{line: lines[i+1], unixNano: -1, attrs: action["create"]})
		}
		return out, nil
	case FormatLoki:
		if !json.Valid(body) {
			return nil, errors.New("loki: invalid JSON")
		}
		var push struct {
			Streams []struct {
				Stream map[string]string `json:"stream"`
				Values [][]string        `json:"values"`
			} `json:"streams"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&push); err != nil {
			return nil, err
		}
		var out []shipped
		for _, st := range push.Streams {
			for _, v := range st.Values {
				if len(v) != 2 {
					return nil, fmt.Errorf("loki: value of %d elements", len(v))
				}
				ns, err := strconv.ParseInt(v[0], 10, 64)
				if err != nil {
					return nil, fmt.Errorf("loki: timestamp %q", v[0])
				}
				out = append(out, shipped{line: []byte(v[1]), unixNano: ns, attrs: st.Stream})
			}
		}
		return out, nil
	case FormatOTLP:
		return decodeOTLP(body)
	}
	return nil, fmt.Errorf("unknown format %q", format)
}

// hecNanos parses "<seconds>.<9 digits>" exactly.
func hecNanos(t string) (int64, error) {
	sec, frac, ok := bytes.Cut([]byte(t), []byte("."))
	if !ok || len(frac) != 9 {
		return 0, fmt.Errorf("hec: time %q is not seconds.nanoseconds", t)
	}
	s, err1 := strconv.ParseInt(string(sec), 10, 64)
	f, err2 := strconv.ParseInt(string(frac), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("hec: time %q", t)
	}
	return s*1e9 + f, nil
}

// otlpTypes builds the OTLP logs messages from a descriptor.
var otlpTypes = sync.OnceValues(func() (protoreflect.MessageType, error) {
	str := descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()
	msg := descriptorpb.FieldDescriptorProto_TYPE_MESSAGE.Enum()
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()
	rep := descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()
	field := func(name string, num int32, label *descriptorpb.FieldDescriptorProto_Label, typ *descriptorpb.FieldDescriptorProto_Type, typeName string) *descriptorpb.FieldDescriptorProto {
		f := &descriptorpb.FieldDescriptorProto{Name: proto.String(name), Number: proto.Int32(num), Label: label, Type: typ, JsonName: proto.String(name)}
		if typeName != "" {
			f.TypeName = proto.String(".otlp." + typeName)
		}
		return f
	}
	oneof := func(f *descriptorpb.FieldDescriptorProto) *descriptorpb.FieldDescriptorProto {
		f.OneofIndex = proto.Int32(0)
		return f
	}
	t := func(x descriptorpb.FieldDescriptorProto_Type) *descriptorpb.FieldDescriptorProto_Type {
		return x.Enum()
	}
	fd := &descriptorpb.FileDescriptorProto{
		Name: proto.String("otlp_logs_test.proto"), Package: proto.String("otlp"), Syntax: proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{
			{Name: proto.String("ExportLogsServiceRequest"), Field: []*descriptorpb.FieldDescriptorProto{
				field("resource_logs", 1, rep, msg, "ResourceLogs")}},
			{Name: proto.String("ResourceLogs"), Field: []*descriptorpb.FieldDescriptorProto{
				field("resource", 1, opt, msg, "Resource"),
				field("scope_logs", 2, rep, msg, "ScopeLogs"),
				field("schema_url", 3, opt, str, "")}},
			{Name: proto.String("Resource"), Field: []*descriptorpb.FieldDescriptorProto{
				field("attributes", 1, rep, msg, "KeyValue"),
				field("dropped_attributes_count", 2, opt, t(descriptorpb.FieldDescriptorProto_TYPE_UINT32), "")}},
			{Name: proto.String("ScopeLogs"), Field: []*descriptorpb.FieldDescriptorProto{
				field("scope", 1, opt, msg, "InstrumentationScope"),
				field("log_records", 2, rep, msg, "LogRecord"),
				field("schema_url", 3, opt, str, "")}},
			{Name: proto.String("InstrumentationScope"), Field: []*descriptorpb.FieldDescriptorProto{
				field("name", 1, opt, str, ""),
				field("version", 2, opt, str, ""),
				field("attributes", 3, rep, msg, "KeyValue"),
				field("dropped_attributes_count", 4, opt, t(descriptorpb.FieldDescriptorProto_TYPE_UINT32), "")}},
			{Name: proto.String("LogRecord"), Field: []*descriptorpb.FieldDescriptorProto{
				field("time_unix_nano", 1, opt, t(descriptorpb.FieldDescriptorProto_TYPE_FIXED64), ""),
				field("observed_time_unix_nano", 11, opt, t(descriptorpb.FieldDescriptorProto_TYPE_FIXED64), ""),
				field("severity_number", 2, opt, t(descriptorpb.FieldDescriptorProto_TYPE_INT32), ""),
				field("severity_text", 3, opt, str, ""),
				field("body", 5, opt, msg, "AnyValue"),
				field("attributes", 6, rep, msg, "KeyValue"),
				field("dropped_attributes_count", 7, opt, t(descriptorpb.FieldDescriptorProto_TYPE_UINT32), ""),
				field("flags", 8, opt, t(descriptorpb.FieldDescriptorProto_TYPE_FIXED32), ""),
				field("trace_id", 9, opt, t(descriptorpb.FieldDescriptorProto_TYPE_BYTES), ""),
				field("span_id", 10, opt, t(descriptorpb.FieldDescriptorProto_TYPE_BYTES), ""),
				field("event_name", 12, opt, str, "")}},
			{Name: proto.String("KeyValue"), Field: []*descriptorpb.FieldDescriptorProto{
				field("key", 1, opt, str, ""),
				field("value", 2, opt, msg, "AnyValue")}},
			{Name: proto.String("AnyValue"), OneofDecl: []*descriptorpb.OneofDescriptorProto{{Name: proto.String("value")}},
				Field: []*descriptorpb.FieldDescriptorProto{
					oneof(field("string_value", 1, opt, str, "")),
					oneof(field("bool_value", 2, opt, t(descriptorpb.FieldDescriptorProto_TYPE_BOOL), "")),
					oneof(field("int_value", 3, opt, t(descriptorpb.FieldDescriptorProto_TYPE_INT64), "")),
					oneof(field("double_value", 4, opt, t(descriptorpb.FieldDescriptorProto_TYPE_DOUBLE), "")),
					oneof(field("array_value", 5, opt, msg, "ArrayValue")),
					oneof(field("kvlist_value", 6, opt, msg, "KeyValueList")),
					oneof(field("bytes_value", 7, opt, t(descriptorpb.FieldDescriptorProto_TYPE_BYTES), ""))}},
			{Name: proto.String("ArrayValue"), Field: []*descriptorpb.FieldDescriptorProto{
				field("values", 1, rep, msg, "AnyValue")}},
			{Name: proto.String("KeyValueList"), Field: []*descriptorpb.FieldDescriptorProto{
				field("values", 1, rep, msg, "KeyValue")}},
		},
	}
	file, err := protodesc.NewFile(fd, nil)
	if err != nil {
		return nil, err
	}
	return dynamicpb.NewMessageType(file.Messages().ByName("ExportLogsServiceRequest")), nil
})

// decodeOTLP parses an ExportLogsServiceRequest strictly (proto3 strings
// must be UTF-8) and returns its records with their attributes, plus
// "severity_number", "severity_text", "service.name" and "scope".
func decodeOTLP(body []byte) ([]shipped, error) {
	mt, err := otlpTypes()
	if err != nil {
		return nil, err
	}
	req := mt.New().Interface()
	if err := (proto.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(body, req); err != nil {
		return nil, fmt.Errorf("otlp: %v", err)
	}
	if len(req.ProtoReflect().GetUnknown()) > 0 {
		return nil, errors.New("otlp: unknown fields in the request")
	}
	get := func(m protoreflect.Message, name string) protoreflect.Value {
		return m.Get(m.Descriptor().Fields().ByName(protoreflect.Name(name)))
	}
	anyString := func(v protoreflect.Message) (string, bool) {
		fd := v.Descriptor().Fields().ByName("string_value")
		if !v.Has(fd) {
			if fi := v.Descriptor().Fields().ByName("int_value"); v.Has(fi) {
				return strconv.FormatInt(v.Get(fi).Int(), 10), true
			}
			return "", false
		}
		return v.Get(fd).String(), true
	}
	kvs := func(list protoreflect.List, into map[string]string) error {
		for i := range list.Len() {
			kv := list.Get(i).Message()
			s, ok := anyString(get(kv, "value").Message())
			if !ok {
				return fmt.Errorf("otlp: attribute %s is not a string or int", get(kv, "key").String())
			}
			into[get(kv, "key").String()] = s
		}
		return nil
	}
	var out []shipped
	rls := get(req.ProtoReflect(), "resource_logs").List()
	for i := range rls.Len() {
		rl := rls.Get(i).Message()
		res := map[string]string{}
		if err := kvs(get(get(rl, "resource").Message(), "attributes").List(), res); err != nil {
			return nil, err
		}
		sls := get(rl, "scope_logs").List()
		for j := range sls.Len() {
			sl := sls.Get(j).Message()
			scope := get(get(sl, "scope").Message(), "name").String()
			lrs := get(sl, "log_records").List()
			for k := range lrs.Len() {
				lr := lrs.Get(k).Message()
				attrs := map[string]string{
					"service.name":    res["service.name"],
					"scope":           scope,
					"severity_number": strconv.FormatInt(get(lr, "severity_number").Int(), 10),
					"severity_text":   get(lr, "severity_text").String(),
				}
				if err := kvs(get(lr, "attributes").List(), attrs); err != nil {
					return nil, err
				}
				bodyV := get(lr, "body").Message()
				line, ok := anyString(bodyV)
				if !ok || !bodyV.Has(bodyV.Descriptor().Fields().ByName("string_value")) {
					return nil, errors.New("otlp: body is not a string")
				}
				if !utf8.ValidString(line) {
					return nil, errors.New("otlp: body is not UTF-8")
				}
				out = append(out, shipped{line: []byte(line), unixNano: int64(get(lr, "time_unix_nano").Uint()), attrs: attrs})
			}
		}
	}
	return out, nil
}
