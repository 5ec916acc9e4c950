package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"
)

func TestCanonical(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"keys sorted at every level", map[string]any{"b": 1, "a": map[string]any{"z": true, "y": nil}},
			`{"a":{"y":null,"z":true},"b":1}`},
		{"struct fields sorted, omitempty kept", struct {
			Z string `json:"z"`
			A string `json:"a,omitempty"`
			M int    `json:"m"`
		}{Z: "x"}, `{"m":0,"z":"x"}`},
		{"no html escaping", map[string]string{"s": "<a href='x'>&</a>"}, `{"s":"<a href='x'>&</a>"}`},
		{"go escapes", "q\" b\\ \b\f\n\r\t \x01\x1f \x7f é \u2028\u2029 😀",
			`"q\" b\\ \b\f\n\r\t \u0001\u001f ` + "\x7f é " + `\u2028\u2029 ` + "😀\""},
		{"invalid utf-8 becomes U+FFFD", "a\xffb", "\"a\uFFFDb\""},
		{"numbers as written", json.RawMessage(`[1.50, 1e3, -0, 123456789012345678901234567890]`),
			`[1.50,1e3,-0,123456789012345678901234567890]`},
		{"whitespace dropped", json.RawMessage(" { \"b\" : [ 1 , 2 ] , \"a\" : \"\" } "), `{"a":"","b":[1,2]}`},
		{"repeated key: last wins", json.RawMessage(`{"a":1,"a":2}`), `{"a":2}`},
		{"key order is byte order", map[string]int{"é": 1, "z": 2, "Z": 3, "a_b": 4, "a": 5}, `{"Z":3,"a":5,"a_b":4,"z":2,"é":1}`},
		{"empty containers", map[string]any{"o": map[string]any{}, "a": []any{}}, `{"a":[],"o":{}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Canonical(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("Canonical =\n %s\nwant\n %s", got, tt.want)
			}
		})
	}
}

func TestCanonicalErrors(t *testing.T) {
	for _, in := range []any{make(chan int), func() {}, map[string]any{"x": complex(1, 2)}} {
		if _, err := Canonical(in); err == nil {
			t.Errorf("Canonical(%T) succeeded", in)
		}
	}
}

func exampleEvent() *Event {
	exit := 0
	exp := time.Date(2026, 12, 3, 18, 34, 7, 0, time.UTC)
	return &Event{
		Schema:    Schema,
		Seq:       2,
		ID:        "01JEZ7Y3V8Q2W6K9M4N5P0R1ST",
		Time:      time.Date(2026, 12, 3, 17, 34, 7, 123456789, time.UTC),
		Event:     EventGrant,
		RequestID: "req-1",
		Principal: &Principal{ID: "alice@example.com", Source: "aws", Groups: []string{"sre", "ops"}},
		Target:    "prod",
		Provider:  "aws",
		DurationS: 3600,
		ExpiresAt: &exp,
		Reason:    "fix <prod> & \"stuff\"",
		Ticket:    "CHG-42",
		Decision:  &Decision{Allowed: true, Rule: "sre-prod"},
		Policy:    &PolicyRef{Repo: "git@example.com:acme/access.git", Ref: "main", Commit: "0123abc", File: "jit.yaml"},
		Grant:     map[string]string{"role_session": "jit-req-1", "access_key_id": "ASIAEXAMPLE"},
		Session:   &Session{Command: []string{"bash"}, ExitCode: &exit},
		Host:      "laptop",
		Prev:      "5f2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809",
	}
}

// The canonical line of an event, written out by hand: a second
// implementation of the format, which Canonical and ComputeHash must agree with.
const exampleBody = `{"decision":{"allowed":true,"rule":"sre-prod"},"duration_s":3600,"event":"grant",` +
	`"expires_at":"2026-12-03T18:34:07Z","grant":{"access_key_id":"ASIAEXAMPLE","role_session":"jit-req-1"},` +
	`"host":"laptop","id":"01JEZ7Y3V8Q2W6K9M4N5P0R1ST",` +
	`"policy":{"commit":"0123abc","file":"jit.yaml","ref":"main","repo":"git@example.com:acme/access.git"},` +
	`"prev":"5f2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f809",` +
	`"principal":{"groups":["sre","ops"],"id":"alice@example.com","source":"aws"},"provider":"aws",` +
	`"reason":"fix <prod> & \"stuff\"","request_id":"req-1","schema":"jit.audit/v1","seq":2,` +
	`"session":{"command":["bash"],"exit_code":0},"target":"prod","ticket":"CHG-42",` +
	`"time":"2026-12-03T17:34:07.123456789Z"}`

func TestComputeHashMatchesSpec(t *testing.T) {
	e := exampleEvent()
	e.Hash = "ignored: ComputeHash leaves out the hash member"
	got, err := ComputeHash(e)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(e.Prev + exampleBody))
	if want := hex.EncodeToString(sum[:]); got != want {
		t.Errorf("ComputeHash = %s, want %s", got, want)
	}

	e.Hash = ""
	line, err := Canonical(e)
	if err != nil {
		t.Fatal(err)
	}
	if string(line) != exampleBody {
		t.Errorf("Canonical(event) =\n%s\nwant\n%s", line, exampleBody)
	}
}

// Canonical adds nothing to an event: its members are exactly those
// encoding/json writes for it, with the same values.
func TestCanonicalAddsNothing(t *testing.T) {
	for _, e := range []*Event{exampleEvent(), {Event: EventRequest}} {
		plain, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		canon, err := Canonical(e)
		if err != nil {
			t.Fatal(err)
		}
		var a, b map[string]any
		if err := json.Unmarshal(plain, &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(canon, &b); err != nil {
			t.Fatal(err)
		}
		ja, _ := json.Marshal(a) // encoding/json sorts map keys
		jb, _ := json.Marshal(b)
		if !bytes.Equal(ja, jb) {
			t.Errorf("canonical content differs from the event:\n%s\n%s", ja, jb)
		}
	}
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	var all []byte
	for b := range 256 {
		all = append(all, byte(b))
	}
	for _, s := range []string{"", "plain", string(all), "\u2028x\u2029", "\xed\xa0\x80", "日本語 \U0001F600", "a\xc3"} {
		if got, want := string(appendString(nil, s)), encodingJSONString(t, s); got != want {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	}
}

func encodingJSONString(t testing.TB, s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

// FuzzCanonical checks that canonical form is a fixed point (parse →
// canonical → parse → canonical gives the same bytes), that it is valid JSON
// meaning the same as the input, and that strings are quoted as
// encoding/json quotes them.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{
		`{"b":1,"a":[true,false,null,"x"]}`, `"\u2028<>&"`, `1.0e+10`, `{"a":{"a":{"a":{}}}}`,
		`{"a":1,"a":2}`, `"\ud800"`, "\"\xff\"", exampleBody, `[]`, ` {"x" : "y\n"} `,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, want := string(appendString(nil, string(data))), encodingJSONString(t, string(data)); got != want {
			t.Fatalf("appendString(%q) = %s, want %s", data, got, want)
		}
		v, err := parseJSON(data)
		if err != nil {
			return
		}
		c1 := appendCanonical(nil, v, false)
		v2, err := parseJSON(c1)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", c1, data, err)
		}
		c2 := appendCanonical(nil, v2, false)
		if !bytes.Equal(c1, c2) {
			t.Fatalf("canonical form not stable:\n%q\n%q", c1, c2)
		}
		// Same meaning: encoding/json reads both to the same value.
		var a, b any
		if json.Unmarshal(data, &a) == nil && json.Unmarshal(c1, &b) == nil {
			ja, _ := json.Marshal(a)
			jb, _ := json.Marshal(b)
			if !bytes.Equal(ja, jb) {
				t.Fatalf("canonical form changed the value: %s vs %s", ja, jb)
			}
		}
	})
}
