package loopback

import "testing"

func TestHostAndURL(t *testing.T) {
	for h, want := range map[string]bool{
		"localhost": true, "LOCALHOST": true, "api.localhost": true, "127.0.0.1": true, "127.9.9.9": true,
		"::1": true, "[::1]": true, "10.0.0.1": false, "169.254.169.254": false, "localhost.example.com": false, "": false,
	} {
		if Host(h) != want {
			t.Errorf("Host(%q) = %v", h, !want)
		}
	}
	for u, want := range map[string]bool{
		"http://127.0.0.1:9/x": true, "https://[::1]:443": true, "http://localhost": true,
		"https://sts.amazonaws.com": false, "http://127.0.0.1.nip.io": false, "not a url": false, "/relative": false,
	} {
		if URL(u) != want {
			t.Errorf("URL(%q) = %v", u, !want)
		}
	}
}

func TestCheckAddr(t *testing.T) {
	for addr, ok := range map[string]bool{"127.0.0.1:0": true, "localhost:80": true, "[::1]:1": true, "0.0.0.0:80": false, ":80": false, "nohost": false} {
		if err := CheckAddr(addr); (err == nil) != ok {
			t.Errorf("CheckAddr(%q) = %v", addr, err)
		}
	}
}
