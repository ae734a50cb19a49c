package sim

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestAuth(t *testing.T) {
	_, srv := newSim(t, Options{})
	tests := []struct {
		name string
		give []string // X-Api-Key values
		want int
	}{
		{"missing", nil, http.StatusUnauthorized},
		{"wrong", []string{"nope"}, http.StatusUnauthorized},
		{"prefix of the key", []string{testKey[:4]}, http.StatusUnauthorized},
		{"sent twice", []string{testKey, testKey}, http.StatusUnauthorized},
		{"right", []string{testKey}, http.StatusAccepted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := conversionRequest(t.Context(), t, srv, "id-"+tt.name, validBody("id-"+tt.name))
			req.Header["X-Api-Key"] = tt.give
			got := do(t, srv, req)
			if got.status != tt.want {
				t.Fatalf("status = %d, want %d (%s)", got.status, tt.want, got.body)
			}
		})
	}
	if got := do(t, srv, func() *http.Request {
		req := conversionRequest(t.Context(), t, srv, "x", validBody("x"))
		req.Header.Del("X-Api-Key")
		return req
	}()); string(got.body) != "{\"error\":\"unauthorized\"}\n" {
		t.Errorf("401 body = %q", got.body)
	}
}

func TestContentType(t *testing.T) {
	_, srv := newSim(t, Options{})
	tests := []struct {
		give string
		want int
	}{
		{"", http.StatusUnsupportedMediaType},
		{"text/plain", http.StatusUnsupportedMediaType},
		{"application/jsonx", http.StatusUnsupportedMediaType},
		{"application/json", http.StatusAccepted},
		{"Application/JSON; charset=utf-8", http.StatusAccepted},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			id := "ct-" + tt.give
			req := conversionRequest(t.Context(), t, srv, id, validBody(id))
			req.Header.Set("Content-Type", tt.give)
			if got := do(t, srv, req); got.status != tt.want {
				t.Fatalf("status = %d, want %d (%s)", got.status, tt.want, got.body)
			}
		})
	}
}

func TestInvalidPayload(t *testing.T) {
	_, srv := newSim(t, Options{})
	const id = "e-1"
	tests := []struct {
		name       string
		give       string
		wantDetail string
	}{
		{"not json", `{"id":`, "truncated"},
		{"syntax", `{"id" "x"}`, "not valid JSON"},
		{"empty", ``, "body is empty"},
		{"array", `[]`, "JSON object"},
		{"null", `null`, "missing or null: id, user, name, ts, value_cents, campaign, source"},
		{"trailing data", validBody(id) + `{}`, "data after"},
		{"unknown field", strings.Replace(validBody(id), `"user"`, `"extra":1,"user"`, 1), `unknown field "extra"`},
		{"missing id", `{"user":"u","name":"n","ts":1,"value_cents":1,"campaign":"c","source":"internal_martech"}`, "missing or null: id"},
		{"missing user", strings.Replace(validBody(id), `"user":"u-1",`, ``, 1), "missing or null: user"},
		{"missing name", strings.Replace(validBody(id), `"name":"purchase",`, ``, 1), "missing or null: name"},
		{"missing ts", strings.Replace(validBody(id), `"ts":1700000000,`, ``, 1), "missing or null: ts"},
		{"missing value_cents", strings.Replace(validBody(id), `"value_cents":1999,`, ``, 1), "missing or null: value_cents"},
		{"missing campaign", strings.Replace(validBody(id), `"campaign":"c-9",`, ``, 1), "missing or null: campaign"},
		{"missing source", strings.Replace(validBody(id), `,"source":"internal_martech"`, ``, 1), "missing or null: source"},
		{"null ts", strings.Replace(validBody(id), `1700000000`, `null`, 1), "missing or null: ts"},
		{"id a number", `{"id":1,"user":"u","name":"n","ts":1,"value_cents":1,"campaign":"c","source":"internal_martech"}`, "id: must be a string, got number"},
		{"ts a string", strings.Replace(validBody(id), `1700000000`, `"1700000000"`, 1), "ts: must be an integer, got string"},
		{"ts fractional", strings.Replace(validBody(id), `1700000000`, `1700000000.5`, 1), "ts: must be an integer, got number"},
		{"value_cents fractional", strings.Replace(validBody(id), `1999`, `19.99`, 1), "value_cents: must be an integer, got number"},
		{"value_cents a string", strings.Replace(validBody(id), `1999`, `"1999"`, 1), "value_cents: must be an integer, got string"},
		{"campaign a bool", strings.Replace(validBody(id), `"c-9"`, `true`, 1), "campaign: must be a string, got bool"},
		{"empty id", strings.Replace(validBody(id), `"e-1"`, `""`, 1), "id: must not be empty"},
		{"empty user", strings.Replace(validBody(id), `"u-1"`, `""`, 1), "user: must not be empty"},
		{"ts zero", strings.Replace(validBody(id), `1700000000`, `0`, 1), "ts: 0 must be a positive"},
		{"ts negative", strings.Replace(validBody(id), `1700000000`, `-5`, 1), "ts: -5 must be a positive"},
		{"value_cents negative", strings.Replace(validBody(id), `1999`, `-1`, 1), "value_cents: -1 must not be negative"},
		{"wrong source", strings.Replace(validBody(id), `internal_martech`, `other`, 1), `source: must be "internal_martech", got "other"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := do(t, srv, conversionRequest(t.Context(), t, srv, id, tt.give))
			if got.status != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400 (%s)", got.status, got.body)
			}
			v := errorField(t, got.body)
			if v.Error != "invalid_payload" || !strings.Contains(v.Detail, tt.wantDetail) {
				t.Fatalf("body = %+v, want invalid_payload with detail containing %q", v, tt.wantDetail)
			}
		})
	}
	var rec receivedJSON
	getJSON(t, srv, "/_sim/received", &rec)
	if rec.Total != 0 {
		t.Errorf("rejected requests were recorded: %+v", rec)
	}
}

func TestBodyTooLarge(t *testing.T) {
	_, srv := newSim(t, Options{})
	body := strings.Replace(validBody("big"), "u-1", strings.Repeat("u", MaxBodyBytes), 1)
	got := do(t, srv, conversionRequest(t.Context(), t, srv, "big", body))
	if got.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status = %d, want 413 (%s)", got.status, got.body)
	}
}

func TestIdempotencyKey(t *testing.T) {
	_, srv := newSim(t, Options{})
	tests := []struct {
		name       string
		give       []string
		wantStatus int
		wantDetail string
	}{
		{"missing", nil, http.StatusBadRequest, "Idempotency-Key header: is required"},
		{"empty", []string{""}, http.StatusBadRequest, "Idempotency-Key header: is required"},
		{"other id", []string{"e-2"}, http.StatusBadRequest, `"e-2" must equal id "e-1"`},
		{"twice", []string{"e-1", "e-1"}, http.StatusBadRequest, "must be sent once"},
		{"equal to id", []string{"e-1"}, http.StatusAccepted, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := conversionRequest(t.Context(), t, srv, "e-1", validBody("e-1"))
			req.Header["Idempotency-Key"] = tt.give
			got := do(t, srv, req)
			if got.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", got.status, tt.wantStatus, got.body)
			}
			if d := errorField(t, got.body).Detail; !strings.Contains(d, tt.wantDetail) {
				t.Fatalf("detail = %q, want it to contain %q", d, tt.wantDetail)
			}
		})
	}
}

func TestAcceptRecordsAndCountsDuplicates(t *testing.T) {
	_, srv := newSim(t, Options{})
	before := time.Now().UnixNano()
	for _, id := range []string{"a", "b", "a", "a"} {
		got := send(t, srv, id)
		if got.status != http.StatusAccepted {
			t.Fatalf("send %s: %d %s", id, got.status, got.body)
		}
		var ack struct {
			Status     string `json:"status"`
			ReceivedAt string `json:"received_at"`
		}
		if err := json.Unmarshal(got.body, &ack); err != nil {
			t.Fatal(err)
		}
		if _, err := time.Parse(time.RFC3339Nano, ack.ReceivedAt); ack.Status != "accepted" || err != nil {
			t.Fatalf("ack = %s (%v)", got.body, err)
		}
	}

	var all receivedJSON
	getJSON(t, srv, "/_sim/received", &all)
	if all.Count != 2 || all.Total != 4 || all.Duplicates != 2 || len(all.Events) != 2 {
		t.Fatalf("received = %+v, want count 2, total 4, duplicates 2, 2 events", all)
	}
	a := all.Events[0] // sorted by first receipt
	if a.ID != "a" || a.Times != 3 || a.IdempotencyKey != "a" || a.FirstReceivedAtUnixNano < before {
		t.Errorf("event a = %+v", a)
	}
	if b := all.Events[1]; b.ID != "b" || b.Times != 1 || b.FirstReceivedAtUnixNano < a.FirstReceivedAtUnixNano {
		t.Errorf("event b = %+v", b)
	}
	if string(a.Body) != validBody("a") {
		t.Errorf("body = %s, want %s", a.Body, validBody("a"))
	}

	tests := []struct {
		give       string
		wantCount  int64
		wantTotal  int64
		wantEvents int
	}{
		{"/_sim/received?summary=1", 2, 4, 0},
		{"/_sim/received?event_id=a", 1, 3, 1},
		{"/_sim/received?event_id=b", 1, 1, 1},
		{"/_sim/received?event_id=a&summary=1", 1, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.give, func(t *testing.T) {
			var got receivedJSON
			getJSON(t, srv, tt.give, &got)
			if got.Count != tt.wantCount || got.Total != tt.wantTotal || got.Duplicates != tt.wantTotal-tt.wantCount || len(got.Events) != tt.wantEvents {
				t.Fatalf("got %+v", got)
			}
		})
	}
	if got := get(t, srv, "/_sim/received?summary=1"); strings.Contains(string(got.body), "events") {
		t.Errorf("summary has events: %s", got.body)
	}
	if got := get(t, srv, "/_sim/received?event_id=nope"); got.status != http.StatusNotFound {
		t.Errorf("unknown event_id: %d, want 404", got.status)
	}
}

func TestEmptyReceivedHasAnEmptyList(t *testing.T) {
	_, srv := newSim(t, Options{})
	got := get(t, srv, "/_sim/received")
	if want := "{\"count\":0,\"total\":0,\"duplicates\":0,\"events\":[]}\n"; string(got.body) != want {
		t.Fatalf("body = %q, want %q", got.body, want)
	}
}

func TestConcurrentDuplicatesAreCounted(t *testing.T) {
	_, srv := newSim(t, Options{})
	const workers, each = 8, 25
	results := make(chan statusOrError, workers*each)
	for range workers {
		reqs := make([]*http.Request, each)
		for i := range reqs {
			reqs[i] = conversionRequest(t.Context(), t, srv, "same", validBody("same"))
		}
		go func() {
			for _, req := range reqs {
				results <- post(srv, req)
			}
		}()
	}
	for range workers * each {
		if got := <-results; got.err != nil || got.status != http.StatusAccepted {
			t.Fatalf("got %+v, want 202", got)
		}
	}
	var got receivedJSON
	getJSON(t, srv, "/_sim/received?event_id=same", &got)
	if got.Events[0].Times != workers*each {
		t.Fatalf("times = %d, want %d", got.Events[0].Times, workers*each)
	}
}

func TestMaxEventsBoundsWhatIsKept(t *testing.T) {
	_, srv := newSim(t, Options{MaxEvents: 1}) // one id per shard
	for i := range 200 {
		id := "m-" + string(rune('A'+i%26)) + string(rune('a'+i/26))
		if got := send(t, srv, id); got.status != http.StatusAccepted {
			t.Fatalf("status %d", got.status)
		}
	}
	var got struct {
		totals
	}
	getJSON(t, srv, "/_sim/received?summary=1", &got)
	if got.Count > shardCount || got.Total != 200 || got.Untracked != 200-got.Count || got.Duplicates != 0 {
		t.Fatalf("summary = %+v", got)
	}
}

func TestLatencyDelaysTheAnswer(t *testing.T) {
	_, srv := newSim(t, Options{})
	mustControl(t, srv, `{"latency_ms":30,"latency_jitter_ms":5}`)
	start := time.Now()
	if got := send(t, srv, "slow"); got.status != http.StatusAccepted {
		t.Fatalf("status %d", got.status)
	}
	if took := time.Since(start); took < 30*time.Millisecond {
		t.Fatalf("answer took %s, want at least 30ms", took)
	}
}
