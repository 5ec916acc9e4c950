// Package httpsink is the `http` audit sink: it POSTs each batch of
// journaled events to an HTTP endpoint, as a JSON array or in the ingestion
// format of a log store (Splunk HEC, Elasticsearch _bulk, Loki push,
// OTLP/HTTP logs).
//
// # Wire formats
//
// Every format carries each event's journal line verbatim (the exact bytes
// that the hash chain covers), so a copy can be checked with `jit audit
// verify` wherever the store keeps the line:
//
//   - json (default): `[<line>,<line>,…]`, Content-Type application/json.
//   - splunk-hec: one object per event, separated by "\n":
//     `{"time":<unix seconds>.<9 digits>,"host":"<event host>","source":"jit",
//     "sourcetype":"jit:audit","index":"<index>","event":<line>}` (host and
//     index only when set), Content-Type application/json,
//     `Authorization: Splunk <token>`. The answer must be
//     `{"code":0,…}`. A URL ending in /services/collector gets /event added;
//     one with an empty path gets /services/collector/event.
//   - elasticsearch: _bulk NDJSON, for each event
//     `{"create":{"_index":"<index|jit-audit>","_id":"<event hash>"}}` "\n"
//     `<line>` "\n", Content-Type application/x-ndjson. The document is the
//     line itself: no @timestamp is added, because Elasticsearch's dynamic
//     date detection maps the RFC 3339 `time` field as a date (pick `time`
//     as the data view's time field). The hash as `_id` with `create` makes
//     a batch sent twice (at-least-once delivery) harmless: the second copy
//     is answered 409, which counts as accepted. The answer's `errors` must
//     be false, or every failed item 409. A URL not ending in /_bulk gets
//     /_bulk added.
//   - loki: `{"streams":[{"stream":{<labels>,"event":"<type>"},
//     "values":[["<unix ns>","<line>"],…]},…]}`, Content-Type
//     application/json. Labels are the configured ones (default app=jit)
//     plus the event type, which has ten values; request ids and other
//     unbounded values stay in the line, for `| json` at query time. A URL
//     with an empty path gets /loki/api/v1/push.
//   - otlp: OTLP/HTTP logs in protobuf (application/x-protobuf; JSON is
//     not sent because several receivers accept protobuf only). One
//     ResourceLogs with resource attribute service.name=jit, one ScopeLogs
//     (scope "jit.audit"), one LogRecord per event: time_unix_nano = the
//     event time, body = the line as a string, severity INFO (9), or WARN
//     (13) for deny, ERROR (17) for error, and attributes jit.event,
//     jit.request_id and jit.target (when set) and jit.seq (int). A partial
//     success that rejected records is an error. A URL not ending in
//     /v1/logs is a base endpoint and gets /v1/logs added.
//
// The index key applies to elasticsearch and splunk-hec only, labels to loki only;
// either elsewhere is refused by New as a likely mistake. A configured
// User-Agent header replaces the default "jit/<version>".
//
// A record is shipped only if its line is one UTF-8 JSON object on one line;
// the formats other than json also need it to parse as an audit event (when
// Record.Event is nil) with a time between 1970 and 2261. Anything else is refused before any byte is sent, since a body the
// receiver cannot parse would lose the whole batch.
//
// # Credentials and signature
//
// The token comes from the environment variable named by token_env or the
// file named by token_file, read once by New, with trailing CR/LF removed;
// it is never in the policy, in an error or in Name. It is sent as
// `Authorization: Bearer <token>` (`Splunk <token>` for splunk-hec), or, if
// the value holds a space (`ApiKey …`, `Basic …`), as the whole header
// value. `headers` may not set Authorization (nor any header the sink sets
// itself): a credential there would be written in the policy repository.
// A token is refused over plain http unless the host is loopback.
//
// With hmac_key_env or hmac_key_file (at least 16 bytes; trailing CR/LF
// removed), each request carries
//
//	X-Jit-Timestamp: <unix seconds, decimal>
//	X-Jit-Signature: sha256=<lowercase hex HMAC-SHA256(key, timestamp + "." + body)>
//
// where timestamp is the X-Jit-Timestamp value as sent and body the exact
// request body bytes. A receiver recomputes the MAC over the same bytes,
// compares it in constant time, and rejects timestamps more than a few
// minutes from its clock, so a captured request cannot be replayed later.
//
// # Delivery
//
// Send POSTs a batch as one request, or as several in order when its body
// would exceed Options.MaxBodyBytes (5 MiB by default); a single event
// larger than that goes alone. It returns nil only when every request was
// accepted: a 2xx answer that passes the format's check. Redirects are
// never followed (a 3xx is an error naming where it pointed), so neither
// the body nor the token can be led to another host. Answers are read up
// to 1 MiB. Errors are *Error: one line naming the sink, with Retryable
// set for network failures, timeouts, 408, 429 and 5xx, when sending the
// batch again later may succeed.
//
// # VictoriaLogs
//
// VictoriaLogs (tested with v1.52.2) accepts all four store formats:
//
//   - splunk-hec: url http://host:9428/insert/splunk/services/collector/event.
//     The event's members become event.* fields; to keep the line as _msg
//     instead, add headers VL-Msg-Field: event and
//     VL-Preserve-JSON-Keys: event.
//   - elasticsearch: url http://host:9428/insert/elasticsearch, headers
//     VL-Time-Field: time (without it the ingestion time is used). The
//     members become fields; there is no _msg.
//   - loki: url http://host:9428/insert/loki/api/v1/push, headers
//     VL-Loki-Disable-Message-Parsing: "1", or VictoriaLogs parses the line
//     into fields and drops it.
//   - otlp: url http://host:9428/insert/opentelemetry. The line is _msg,
//     the attributes are fields.
//
// VictoriaLogs has no endpoint for a plain JSON array.
package httpsink
