package azure

import (
	"net/http"
	"strconv"
	"time"
)

// serveAdmin answers the test and sandbox endpoints:
//
//	GET    /_fake/calls[?op=OP]                      the call log as JSON
//	DELETE /_fake/calls                              empty the log
//	GET    /_fake/active                             activations in force
//	GET    /_fake/requests                           requests held
//	POST   /_fake/approve  request=<name>            approve a pending request
//	POST   /_fake/deny     request=<name>            deny a pending request
//	POST   /_fake/fail     op=&code=&status=&count=&message=&retry_after=
//	POST   /_fake/advance  by=<Go duration>          move the schedule clock
//	POST   /_fake/expire-tokens                      expire every issued token
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	bad := func(msg string) { writeJSON(w, http.StatusBadRequest, map[string]string{"error": msg}) }
	if r.Method == http.MethodPost {
		if err := r.ParseForm(); err != nil {
			bad(err.Error())
			return
		}
	}
	switch {
	case r.URL.Path == "/_fake/calls" && r.Method == http.MethodGet:
		calls := s.Calls()
		if op := r.URL.Query().Get("op"); op != "" {
			calls = s.CallsFor(op)
		}
		if calls == nil {
			calls = []Call{}
		}
		writeJSON(w, http.StatusOK, calls)
	case r.URL.Path == "/_fake/calls" && r.Method == http.MethodDelete:
		s.ResetCalls()
		w.WriteHeader(http.StatusNoContent)
	case r.URL.Path == "/_fake/active" && r.Method == http.MethodGet:
		a := s.Active()
		if a == nil {
			a = []ActiveAssignment{}
		}
		writeJSON(w, http.StatusOK, a)
	case r.URL.Path == "/_fake/requests" && r.Method == http.MethodGet:
		rs := s.Requests()
		if rs == nil {
			rs = []RequestInfo{}
		}
		writeJSON(w, http.StatusOK, rs)
	case (r.URL.Path == "/_fake/approve" || r.URL.Path == "/_fake/deny") && r.Method == http.MethodPost:
		name := r.Form.Get("request")
		if name == "" {
			bad("request=<request name> is required")
			return
		}
		decide := s.Approve
		if r.URL.Path == "/_fake/deny" {
			decide = s.Deny
		}
		if err := decide(name); err != nil {
			writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case r.URL.Path == "/_fake/fail" && r.Method == http.MethodPost:
		f := Fault{Op: r.Form.Get("op"), Code: r.Form.Get("code"), Message: r.Form.Get("message")}
		for _, p := range []struct {
			key string
			dst *int
		}{{"status", &f.Status}, {"count", &f.Count}, {"retry_after", &f.RetryAfter}} {
			if v := r.Form.Get(p.key); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil {
					bad(p.key + " must be a number")
					return
				}
				*p.dst = n
			}
		}
		if f.Code == "" {
			bad("code is required")
			return
		}
		s.Fail(f)
		w.WriteHeader(http.StatusNoContent)
	case r.URL.Path == "/_fake/advance" && r.Method == http.MethodPost:
		d, err := time.ParseDuration(r.Form.Get("by"))
		if err != nil {
			bad("by must be a Go duration such as 10m")
			return
		}
		s.Advance(d)
		writeJSON(w, http.StatusOK, map[string]time.Time{"now": s.Now()})
	case r.URL.Path == "/_fake/expire-tokens" && r.Method == http.MethodPost:
		s.ExpireTokens()
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown admin endpoint " + r.Method + " " + r.URL.Path})
	}
}
