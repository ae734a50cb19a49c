package sim

import (
	"net/http"
	"strings"
	"testing"
)

func TestControlPartialUpdate(t *testing.T) {
	_, srv := newSim(t, Options{})
	mustControl(t, srv, `{"fail_503":0.25,"latency_ms":5}`)
	mustControl(t, srv, `{"fail_429":0.5,"retry_after_seconds":3}`)
	var got controlView
	getJSON(t, srv, "/_sim/control", &got)
	want := controlView{
		Fail429: 0.5, Fail503: 0.25, RetryAfterSeconds: 3, TimeoutHoldMS: 60000, LatencyMS: 5,
		DownStatus: 503, FailNext: failNextView{Status: 503},
	}
	if got != want {
		t.Fatalf("settings = %+v, want %+v", got, want)
	}
}

func TestControlRejectsBadSettings(t *testing.T) {
	tests := []struct {
		give       string
		wantDetail string
	}{
		{`{"fail_429":1.5}`, "fail_429: 1.5 is outside 0..1"},
		{`{"fail_500":-0.1}`, "fail_500: -0.1 is outside"},
		{`{"fail_503":0.3,"timeout":0.3}`, "shares add up to 1.1"}, // with the 0.5 already set
		{`{"fail_400":0.9}`, "shares add up to 1.4"},               // with the 0.5 already set
		{`{"latency_ms":-1}`, "latency_ms: -1 is out of range"},
		{`{"latency_ms":600000}`, "latency_ms: 10m0s is outside"},
		{`{"timeout_hold_ms":0}`, "timeout_hold_ms"},
		{`{"retry_after_seconds":-1}`, "retry_after_seconds"},
		{`{"down_status":200}`, "down_status: 200"},
		{`{"fail_next":{"status":503}}`, "fail_next.count: is required"},
		{`{"fail_next":{"count":-2}}`, "fail_next.count: -2 is negative"},
		{`{"fail_next":{"count":1,"status":302}}`, "fail_next.status: 302"},
		{`{"fail_next":{"count":1,"status":"slow"}}`, `"slow" is not an HTTP status`},
		{`{"fail503":1}`, `unknown field "fail503"`},
		{`{"down":"yes"}`, "down"},
		{`{} {}`, "data after"},
	}
	_, srv := newSim(t, Options{})
	mustControl(t, srv, `{"fail_500":0.5}`)
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			got := control(t, srv, tt.give)
			if got.status != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400 (%s)", got.status, got.body)
			}
			if v := errorField(t, got.body); v.Error != "invalid_control" || !strings.Contains(v.Detail, tt.wantDetail) {
				t.Fatalf("body = %+v, want detail containing %q", v, tt.wantDetail)
			}
		})
	}
	var after controlView
	getJSON(t, srv, "/_sim/control", &after)
	if after.Fail500 != 0.5 || after.Fail429 != 0 || after.Fail503 != 0 || after.FailNext.Count != 0 {
		t.Fatalf("a rejected update changed the settings: %+v", after)
	}
}

func TestResetKeepsSettings(t *testing.T) {
	_, srv := newSim(t, Options{})
	send(t, srv, "r-1")
	send(t, srv, "r-1")
	mustControl(t, srv, `{"down":true}`)
	send(t, srv, "r-2")

	got := do(t, srv, func() *http.Request {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/_sim/reset", nil)
		return req
	}())
	if got.status != http.StatusOK {
		t.Fatalf("reset: %d", got.status)
	}
	var rec receivedJSON
	getJSON(t, srv, "/_sim/received", &rec)
	var st statsJSON
	getJSON(t, srv, "/_sim/stats", &st)
	var set controlView
	getJSON(t, srv, "/_sim/control", &set)
	if rec.Count != 0 || rec.Total != 0 || len(rec.Events) != 0 {
		t.Errorf("received after reset = %+v", rec)
	}
	if st.Requests != 0 || len(st.Responses) != 0 {
		t.Errorf("stats after reset = %+v", st)
	}
	if !set.Down {
		t.Errorf("reset cleared the settings: %+v", set)
	}
}

func TestStatsCountByStatus(t *testing.T) {
	_, srv := newSim(t, Options{})
	send(t, srv, "s-1")
	send(t, srv, "s-2")
	mustControl(t, srv, `{"fail_next":{"count":1,"status":503}}`)
	send(t, srv, "s-3")
	var st statsJSON
	getJSON(t, srv, "/_sim/stats", &st)
	if st.Requests != 3 || st.InFlight != 0 || st.Responses["202"] != 2 || st.Responses["503"] != 1 || len(st.Responses) != 2 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	_, srv := newSim(t, Options{})
	send(t, srv, "m-1")
	tests := []struct {
		give string
		want string
	}{
		{"/healthz", `{"status":"ok"}`},
		{"/metrics", `adeventsx_sim_responses_total{code="202"} 1`},
		{"/metrics", `adeventsx_sim_received_events 1`},
		{"/metrics", `go_goroutines`},
	}
	for _, tt := range tests {
		t.Run(tt.give+" "+tt.want, func(t *testing.T) {
			got := get(t, srv, tt.give)
			if got.status != http.StatusOK || !strings.Contains(string(got.body), tt.want) {
				t.Fatalf("%d %s, want it to contain %s", got.status, got.body, tt.want)
			}
		})
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		give Options
	}{
		{"no key", Options{Settings: DefaultSettings()}},
		{"zero hold", Options{APIKey: "k", Settings: Settings{DownStatus: 503}}},
		{"shares over 1", Options{APIKey: "k", Settings: func() Settings {
			s := DefaultSettings()
			s.Fail500, s.Fail503 = 0.7, 0.7
			return s
		}()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.give); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}
