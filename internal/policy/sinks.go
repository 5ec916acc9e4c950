package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// SinkConfig is one audit sink, as written in the policy's audit.sinks or in
// the user's configuration. Only the keys of its type may be set.
type SinkConfig struct {
	// Type is file, syslog, http or s3.
	Type string `yaml:"type" json:"type"`
	// Name identifies the sink (its delivery cursor, messages, jit audit
	// status); derived from the type and destination when empty.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Path is the file sink's journal (required for file).
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
	// MaxSize is the file size in bytes at which the file sink rotates;
	// written as a byte count or a size such as 100MB or 1GiB.
	MaxSize int64 `yaml:"max_size,omitempty" json:"max_size,omitempty"`
	// Address is the syslog server, "udp://host:port" or "tcp://host:port"
	// (required for syslog).
	Address string `yaml:"address,omitempty" json:"address,omitempty"`
	// TLS makes the syslog sink use TLS over TCP.
	TLS bool `yaml:"tls,omitempty" json:"tls,omitempty"`
	// URL is the http sink's endpoint (required for http).
	URL string `yaml:"url,omitempty" json:"url,omitempty"`
	// Format is the http body format: json (default), splunk-hec,
	// elasticsearch, loki or otlp.
	Format string `yaml:"format,omitempty" json:"format,omitempty"`
	// Headers are extra http request headers (never secrets: use TokenEnv).
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	// TokenEnv names the environment variable holding the http sink's token.
	TokenEnv string `yaml:"token_env,omitempty" json:"token_env,omitempty"`
	// TokenFile names a file holding the http sink's token.
	TokenFile string `yaml:"token_file,omitempty" json:"token_file,omitempty"`
	// HMACKeyEnv and HMACKeyFile hold the key the http sink signs each body
	// with (an HMAC-SHA256 header), never inline.
	HMACKeyEnv  string `yaml:"hmac_key_env,omitempty" json:"hmac_key_env,omitempty"`
	HMACKeyFile string `yaml:"hmac_key_file,omitempty" json:"hmac_key_file,omitempty"`
	// Index is the elasticsearch index (default jit-audit).
	Index string `yaml:"index,omitempty" json:"index,omitempty"`
	// Labels are the loki stream labels (default {app: jit}).
	Labels map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
	// CAFile is a PEM bundle of the certificate authorities a syslog (TLS)
	// or http sink trusts besides the system's.
	CAFile string `yaml:"ca_file,omitempty" json:"ca_file,omitempty"`
	// Bucket, Prefix, Region and Endpoint locate the s3 sink's objects
	// (Bucket is required for s3).
	Bucket   string `yaml:"bucket,omitempty" json:"bucket,omitempty"`
	Prefix   string `yaml:"prefix,omitempty" json:"prefix,omitempty"`
	Region   string `yaml:"region,omitempty" json:"region,omitempty"`
	Endpoint string `yaml:"endpoint,omitempty" json:"endpoint,omitempty"`
	// Profile is the AWS profile the s3 sink signs in with (never the
	// elevated credentials); the SDK's default chain when empty.
	Profile string `yaml:"profile,omitempty" json:"profile,omitempty"`
	// PathStyle addresses the bucket in the path (S3-compatible stores);
	// on by default when Endpoint is set.
	PathStyle *bool `yaml:"path_style,omitempty" json:"path_style,omitempty"`
	// Required refuses an elevation unless this sink accepted the request
	// and grant events.
	Required bool `yaml:"required,omitempty" json:"required,omitempty"`
	// Timeout bounds one delivery; written as a duration such as 5s.
	Timeout time.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
	// Line is where the sink is defined, for messages.
	Line int `yaml:"-" json:"-"`
}

// httpFormats are the body formats an http sink accepts.
var httpFormats = []string{"json", "splunk-hec", "elasticsearch", "loki", "otlp"}

// sinkKeys lists the keys each sink type accepts besides the common ones.
// A key of another type is an error rather than silently ignored, because
// a misplaced key usually means the sink is not configured as intended.
var sinkKeys = map[string][]string{
	"file":   {"path", "max_size"},
	"syslog": {"address", "tls", "ca_file"},
	"http":   {"url", "format", "headers", "token_env", "token_file", "hmac_key_env", "hmac_key_file", "index", "labels", "ca_file"},
	"s3":     {"bucket", "prefix", "region", "endpoint", "profile", "path_style"},
}

// sinkRequired is the key each sink type cannot do without.
var sinkRequired = map[string]string{"file": "path", "syslog": "address", "http": "url", "s3": "bucket"}

var commonSinkKeys = []string{"type", "name", "required", "timeout"}

// DecodeSinks decodes and validates a list of audit sinks (the value of an
// audits.sinks key) from a YAML node of a file named file. A null node is no
// sinks. The error, if any, is an *Errors with every problem and its
// position.
func DecodeSinks(node *yaml.Node, file string) ([]SinkConfig, error) {
	c := &collector{file: file}
	sinks := decodeSinks(c, node, "")
	if err := c.err(); err != nil {
		return nil, err
	}
	return sinks, nil
}

func decodeSinks(c *collector, node *yaml.Node, ctx string) []SinkConfig {
	node = resolve(node)
	if isNull(node) {
		return nil
	}
	if node.Kind != yaml.SequenceNode {
		c.at(node, fmt.Sprintf("%ssinks must be a list, not %s", ctx, kindName(node)))
		return nil
	}
	var out []SinkConfig
	for i, item := range node.Content {
		if s, ok := decodeSink(c, resolve(item), fmt.Sprintf("%saudit sink #%d: ", ctx, i+1)); ok {
			out = append(out, s)
		}
	}
	return out
}

func decodeSink(c *collector, n *yaml.Node, ctx string) (SinkConfig, bool) {
	var all []string
	all = append(all, commonSinkKeys...)
	for _, keys := range sinkKeys {
		all = append(all, keys...)
	}
	f, ok := fields(c, n, ctx, all...)
	if !ok {
		return SinkConfig{}, false
	}
	s := SinkConfig{Line: n.Line}
	errs := len(c.errs)
	tp, ok := f["type"]
	if !ok {
		c.at(n, ctx+"type is required (known: "+sortedList(keysOf(sinkKeys))+")")
		return s, false
	}
	s.Type, _ = scalar(c, tp.v, ctx, "type")
	allowed, known := sinkKeys[s.Type]
	if !known {
		c.at(tp.v, fmt.Sprintf("%sunknown sink type %q (known: %s)", ctx, s.Type, sortedList(keysOf(sinkKeys))))
		return s, false
	}
	ctx = strings.TrimSuffix(ctx, ": ") + " (" + s.Type + "): "
	for key, p := range f {
		if !slices.Contains(allowed, key) && !slices.Contains(commonSinkKeys, key) {
			c.at(p.k, fmt.Sprintf("%skey %q does not apply to %s sink (its keys: %s)", ctx, key, article(s.Type), sortedList(append(slices.Clone(commonSinkKeys), allowed...))))
		}
	}
	str := func(key string, dst *string) {
		if p, ok := f[key]; ok {
			*dst, _ = scalar(c, p.v, ctx, key)
		}
	}
	flag := func(key string, dst *bool) {
		if p, ok := f[key]; ok {
			*dst, _ = boolean(c, p.v, ctx, key)
		}
	}
	str("path", &s.Path)
	str("address", &s.Address)
	str("url", &s.URL)
	str("format", &s.Format)
	str("token_env", &s.TokenEnv)
	str("token_file", &s.TokenFile)
	str("bucket", &s.Bucket)
	str("prefix", &s.Prefix)
	str("region", &s.Region)
	str("endpoint", &s.Endpoint)
	str("name", &s.Name)
	str("hmac_key_env", &s.HMACKeyEnv)
	str("hmac_key_file", &s.HMACKeyFile)
	str("index", &s.Index)
	str("ca_file", &s.CAFile)
	str("profile", &s.Profile)
	flag("tls", &s.TLS)
	flag("required", &s.Required)
	if _, ok := f["path_style"]; ok {
		var v bool
		flag("path_style", &v)
		s.PathStyle = &v
	}
	if p, ok := f["labels"]; ok {
		s.Labels = decodeHeaders(c, p.v, ctx)
	}
	if p, ok := f["max_size"]; ok {
		if v, ok := scalar(c, p.v, ctx, "max_size"); ok {
			if n, err := ParseSize(v); err != nil {
				c.at(p.v, ctx+"max_size: "+err.Error())
			} else if n == 0 {
				c.at(p.v, ctx+"max_size must be positive")
			} else {
				s.MaxSize = n
			}
		}
	}
	if p, ok := f["timeout"]; ok {
		s.Timeout, _ = positiveDuration(c, p.v, ctx, "timeout")
	}
	if p, ok := f["headers"]; ok {
		s.Headers = decodeHeaders(c, p.v, ctx)
	}
	req := sinkRequired[s.Type]
	if p, ok := f[req]; !ok || isNull(p.v) || resolve(p.v).Value == "" {
		c.at(n, fmt.Sprintf("%s%s is required for %s sink", ctx, req, article(s.Type)))
	}
	if s.Type == "syslog" && s.Address != "" && !strings.HasPrefix(s.Address, "udp://") && !strings.HasPrefix(s.Address, "tcp://") {
		c.at(f["address"].v, fmt.Sprintf("%saddress %q must start with udp:// or tcp://", ctx, s.Address))
	}
	if s.Type == "http" {
		if s.URL != "" && !strings.HasPrefix(s.URL, "https://") && !strings.HasPrefix(s.URL, "http://") {
			c.at(f["url"].v, fmt.Sprintf("%surl %q must start with https:// or http://", ctx, s.URL))
		}
		if s.Format != "" && !slices.Contains(httpFormats, s.Format) {
			c.at(f["format"].v, fmt.Sprintf("%sunknown format %q (known: %s)", ctx, s.Format, strings.Join(httpFormats, ", ")))
		}
		if s.TokenEnv != "" && s.TokenFile != "" {
			c.at(f["token_file"].k, ctx+"token_env and token_file are exclusive: keep one")
		}
		if s.HMACKeyEnv != "" && s.HMACKeyFile != "" {
			c.at(f["hmac_key_file"].k, ctx+"hmac_key_env and hmac_key_file are exclusive: keep one")
		}
	}
	return s, len(c.errs) == errs
}

func decodeHeaders(c *collector, n *yaml.Node, ctx string) map[string]string {
	n = resolve(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		c.at(n, fmt.Sprintf("%sheaders must be a mapping of names to values, not %s", ctx, kindName(n)))
		return nil
	}
	out := map[string]string{}
	for _, p := range pairs(c, n, ctx+"headers: ") {
		if v, ok := scalar(c, p.v, ctx, "header "+p.key); ok {
			out[p.key] = v
		}
	}
	return out
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// article prefixes a sink type with "a" or "an" as it is read aloud.
func article(typ string) string {
	if typ == "http" || typ == "s3" {
		return "an " + typ
	}
	return "a " + typ
}
