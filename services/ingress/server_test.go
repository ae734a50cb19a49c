package main

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/martech/eventfwd/services/ingress/internal/connlimit"
)

// TestPublicServerRefusesLargeHeaders checks that a request whose headers are far beyond any
// token is refused before it reaches a handler (issue 9, item 5: 1 MiB of headers were read,
// and a 900 KB bogus token cost 6 ms to refuse).
func TestPublicServerRefusesLargeHeaders(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	limited := connlimit.New(ln, 16)
	srv := publicServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), limited,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	go func() { _ = srv.Serve(limited) }()
	t.Cleanup(func() { _ = srv.Close() })

	tests := []struct {
		name  string
		token int // bytes of the bearer token
		want  int
	}{
		{name: "a token of 2 KB", token: 2 << 10, want: http.StatusOK},
		{name: "an identity provider's token of 10 KB", token: 10 << 10, want: http.StatusOK},
		{name: "a token of 32 KB", token: 32 << 10, want: http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+ln.Addr().String()+"/", nil)
			req.Header.Set("Authorization", "Bearer "+strings.Repeat("a", tt.token))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}
