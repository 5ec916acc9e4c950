package policy

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func sinksNode(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	return doc.Content[0]
}

func TestDecodeSinks(t *testing.T) {
	src := `- {type: file, path: /var/log/jit.jsonl, max_size: 1GiB}
- {type: file, path: /b, max_size: 4096, timeout: 2s}
- {type: syslog, address: "tcp://127.0.0.1:6514", tls: true, required: true}
- {type: http, url: "https://siem/x", format: loki, headers: {X-A: "1", X-B: two}, token_file: /run/token}
- {type: s3, bucket: audit, prefix: jit/, region: eu-west-1, endpoint: "http://127.0.0.1:9000"}
`
	got, err := DecodeSinks(sinksNode(t, src), "config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []SinkConfig{
		{Type: "file", Path: "/var/log/jit.jsonl", MaxSize: 1 << 30, Line: 1},
		{Type: "file", Path: "/b", MaxSize: 4096, Timeout: 2 * time.Second, Line: 2},
		{Type: "syslog", Address: "tcp://127.0.0.1:6514", TLS: true, Required: true, Line: 3},
		{Type: "http", URL: "https://siem/x", Format: "loki", Headers: map[string]string{"X-A": "1", "X-B": "two"}, TokenFile: "/run/token", Line: 4},
		{Type: "s3", Bucket: "audit", Prefix: "jit/", Region: "eu-west-1", Endpoint: "http://127.0.0.1:9000", Line: 5},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if got, err := DecodeSinks(nil, "x"); got != nil || err != nil {
		t.Errorf("nil node: %v, %v", got, err)
	}
	if got, err := DecodeSinks(sinksNode(t, "~"), "x"); got != nil || err != nil {
		t.Errorf("null node: %v, %v", got, err)
	}
}

func TestDecodeSinksErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"not a list", "{type: file}", "config.yaml:1:1: sinks must be a list, not a mapping"},
		{"key of another type", "- {type: file, path: /x, bucket: b}",
			`config.yaml:1:26: audit sink #1 (file): key "bucket" does not apply to a file sink (its keys: max_size, name, path, required, timeout, type)`},
		{"bad max_size", "- {type: file, path: /x, max_size: 10XB}",
			`config.yaml:1:36: audit sink #1 (file): max_size: invalid size "10XB": use a byte count or a size such as 512KB, 100MB or 1GiB`},
		{"zero max_size", "- {type: file, path: /x, max_size: 0}",
			`config.yaml:1:36: audit sink #1 (file): max_size must be positive`},
		{"bad timeout", "- {type: file, path: /x, timeout: soon}",
			`config.yaml:1:35: audit sink #1 (file): timeout: invalid duration "soon": use a Go duration such as 15m, 1h30m or 2d`},
		{"syslog scheme", "- {type: syslog, address: \"127.0.0.1:514\"}",
			`config.yaml:1:27: audit sink #1 (syslog): address "127.0.0.1:514" must start with udp:// or tcp://`},
		{"http scheme", "- {type: http, url: siem.example.com}",
			`config.yaml:1:21: audit sink #1 (http): url "siem.example.com" must start with https:// or http://`},
		{"http format", "- {type: http, url: \"https://x\", format: xml}",
			`config.yaml:1:42: audit sink #1 (http): unknown format "xml" (known: json, splunk-hec, elasticsearch, loki, otlp)`},
		{"two token sources", "- {type: http, url: \"https://x\", token_env: T, token_file: /t}",
			`config.yaml:1:48: audit sink #1 (http): token_env and token_file are exclusive: keep one`},
		{"tls not a bool", "- {type: syslog, address: \"udp://x:1\", tls: maybe}",
			`config.yaml:1:45: audit sink #1 (syslog): tls must be true or false`},
		{"headers not a map", "- {type: http, url: \"https://x\", headers: [a]}",
			`config.yaml:1:43: audit sink #1 (http): headers must be a mapping of names to values, not a list`},
		{"empty path", "- {type: file, path: \"\"}",
			`config.yaml:1:3: audit sink #1 (file): path is required for a file sink`},
		{"second sink counted", "- {type: file, path: /x}\n- {type: s3}",
			`config.yaml:2:3: audit sink #2 (s3): bucket is required for an s3 sink`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeSinks(sinksNode(t, tt.src), "config.yaml")
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v\nwant  %s", err, tt.want)
			}
			var errs *Errors
			if !errors.As(err, &errs) {
				t.Fatalf("%T is not *Errors", err)
			}
		})
	}
}

func TestDecodeSinksNewKeys(t *testing.T) {
	var n yaml.Node
	src := `- {type: http, name: siem, url: "https://siem.example/x", format: loki, hmac_key_env: SIEM_HMAC, labels: {team: sec}, ca_file: /etc/ca.pem, index: jit}
- {type: s3, bucket: audit, endpoint: "http://127.0.0.1:9000", profile: audit-writer, path_style: false}
- {type: syslog, address: "tcp://127.0.0.1:6514", tls: true, ca_file: /etc/ca.pem}
`
	if err := yaml.Unmarshal([]byte(src), &n); err != nil {
		t.Fatal(err)
	}
	sinks, err := DecodeSinks(n.Content[0], "config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h, s3, sl := sinks[0], sinks[1], sinks[2]
	if h.Name != "siem" || h.HMACKeyEnv != "SIEM_HMAC" || h.Labels["team"] != "sec" || h.CAFile != "/etc/ca.pem" || h.Index != "jit" {
		t.Errorf("http sink = %+v", h)
	}
	if s3.Profile != "audit-writer" || s3.PathStyle == nil || *s3.PathStyle {
		t.Errorf("s3 sink = %+v", s3)
	}
	if !sl.TLS || sl.CAFile != "/etc/ca.pem" {
		t.Errorf("syslog sink = %+v", sl)
	}
	n = yaml.Node{}
	_ = yaml.Unmarshal([]byte(`- {type: http, url: "https://x", hmac_key_env: A, hmac_key_file: /b}`), &n)
	if _, err := DecodeSinks(n.Content[0], "c.yaml"); err == nil || !strings.Contains(err.Error(), "hmac_key_env and hmac_key_file are exclusive") {
		t.Errorf("both hmac keys: %v", err)
	}
}
