package deliver

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/martech/eventfwd/services/forwarder/internal/health"
)

// A redirect is never followed: a POST followed as a GET answered 2xx would count an event as
// delivered that AdEventsX never got, and the API key would go to whatever host the Location
// names. The 3xx is the destination's failure (retried, counted by the circuit like a 5xx),
// never the event's.
func TestRedirectIsNotFollowedAndIsADestinationFailure(t *testing.T) {
	for _, status := range []int{301, 302, 303, 307, 308} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			var mu sync.Mutex
			var elsewhere []http.Header
			other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				elsewhere = append(elsewhere, r.Header.Clone())
				mu.Unlock()
				w.WriteHeader(http.StatusOK)
			}))
			defer other.Close()
			api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, other.URL+"/v1/conversions", status)
			}))
			defer api.Close()

			c := NewClient(ClientConfig{BaseURL: api.URL, APIKey: "secret-key", AttemptTimeout: time.Second, RetryAfterCap: time.Second, MaxConns: 4})
			a := c.Send(t.Context(), "id-1", []byte(`{}`))

			mu.Lock()
			defer mu.Unlock()
			if len(elsewhere) != 0 {
				t.Fatalf("the redirect was followed: the target got %d request(s), X-Api-Key %q; attempt status %d verdict %s",
					len(elsewhere), elsewhere[0].Get("X-Api-Key"), a.Status, a.Verdict)
			}
			if a.Err != nil || a.Status != status || a.Verdict != Retry || outcomeOf(a) != health.Failing {
				t.Fatalf("attempt = status %d err %v verdict %s outcome %v; want status %d, verdict retry, outcome failing",
					a.Status, a.Err, a.Verdict, outcomeOf(a), status)
			}
		})
	}
}
