package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The ingress on its own, against the real broker: batches, clients from a file with bcrypt
// hashes, key rotation, scopes, rate limits, the robustness answers, and a Kafka outage.

// ingResponse is one answer of the ingress.
type ingResponse struct {
	code   int
	header http.Header
	body   string
}

// ingDo sends one request to the ingress; header is "Name: value" lines.
func ingDo(t *testing.T, method, url, body string, header ...string) ingResponse {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range header {
		name, value, _ := strings.Cut(h, ": ")
		req.Header.Set(name, value)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return ingResponse{code: resp.StatusCode, header: resp.Header, body: string(b)}
}

func ingEventJSON(id string) string {
	b, _ := json.Marshal(sampleEvent(id))
	return string(b)
}

// ingToken gets a token for id with secret, sent as a form with HTTP Basic.
func ingToken(t *testing.T, in *ingress, id, secret string) (string, ingResponse) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, in.url+"/auth/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(b, &tok)
	return tok.AccessToken, ingResponse{code: resp.StatusCode, header: resp.Header, body: string(b)}
}

// ingHashSecret runs `ingress hash-secret` with the secret on stdin.
func ingHashSecret(t *testing.T, secret string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "ingress"), "hash-secret")
	cmd.Stdin = strings.NewReader(secret + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ingress hash-secret: %v", err)
	}
	hash := strings.TrimSpace(string(out))
	if !strings.HasPrefix(hash, "$2") || strings.Contains(hash, secret) {
		t.Fatalf("ingress hash-secret printed %q, want a bcrypt hash", hash)
	}
	return hash
}

// A batch with valid, invalid and extra-field events: one answer listing every item, and only
// the valid ones in Kafka, in canonical form.
func TestIngressBatchWritesOnlyTheAcceptedItems(t *testing.T) {
	n := newNames(t)
	in := startIngress(t, n)

	good := []string{newUUID(), newUUID(), newUUID()}
	withExtra := sampleEvent(good[2])
	withExtra["internal_note"] = "must not reach kafka"
	extra, _ := json.Marshal(withExtra)
	body := `{"events":[` + ingEventJSON(good[0]) + `,{"event_id":"not-a-uuid"},` + ingEventJSON(good[1]) + `,` + string(extra) + `]}`

	r := ingDo(t, http.MethodPost, in.url+"/events/batch", body, "Content-Type: application/json", "Authorization: Bearer "+in.token)
	if r.code != http.StatusOK {
		t.Fatalf("POST /events/batch = %d %s, want 200", r.code, r.body)
	}
	var answer struct {
		Accepted, Invalid int
		Items             []struct {
			Index   int    `json:"index"`
			Status  string `json:"status"`
			EventID string `json:"event_id"`
			Fields  []struct{ Field, Reason string }
		}
	}
	if err := json.Unmarshal([]byte(r.body), &answer); err != nil {
		t.Fatal(err)
	}
	var statuses []string
	for _, it := range answer.Items {
		statuses = append(statuses, fmt.Sprintf("%d:%s:%s", it.Index, it.Status, it.EventID))
	}
	want := []string{"0:accepted:" + good[0], "1:invalid:", "2:accepted:" + good[1], "3:accepted:" + good[2]}
	if answer.Accepted != 3 || answer.Invalid != 1 || !slices.Equal(statuses, want) || len(answer.Items[1].Fields) == 0 {
		t.Fatalf("answer %s, want items %v with the invalid one's fields", r.body, want)
	}

	records := readAll(t, n.events)
	var keys []string
	for _, rec := range records {
		keys = append(keys, string(rec.Key))
		if strings.Contains(string(rec.Value), "internal_note") || strings.Contains(string(rec.Value), "not-a-uuid") {
			t.Errorf("record %s carries what should not be forwarded: %s", rec.Key, rec.Value)
		}
	}
	slices.Sort(keys)
	slices.Sort(good)
	if !slices.Equal(keys, good) {
		t.Fatalf("events.raw holds %v, want exactly %v", keys, good)
	}
}

// Clients from a file with bcrypt hashes beside AUTH_CLIENTS, two verification keys with the
// newer one signing, a client without the events:write scope, and a per-client rate limit.
func TestIngressClientsFileScopesRotationAndRateLimit(t *testing.T) {
	n := newNames(t)
	dashSecret, roSecret := "dash-"+randomHex(12), "ro-"+randomHex(12)
	clientsFile := filepath.Join(t.TempDir(), "clients.yaml")
	doc := fmt.Sprintf("clients:\n"+
		"  - id: dash\n    secret_hash: %q\n    rate_limit: {rps: 0.5, burst: 500}\n"+
		"  - id: readonly\n    secret_hash: %q\n    scopes: []\n", ingHashSecret(t, dashSecret), ingHashSecret(t, roSecret))
	if err := os.WriteFile(clientsFile, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	in := startIngress(t, n, "AUTH_CLIENTS_FILE="+clientsFile,
		"JWT_KEYS=old:"+randomHex(32)+",new:"+randomHex(32), "JWT_SIGNING_KID=new")

	if _, r := ingToken(t, in, "dash", dashSecret+"x"); r.code != http.StatusUnauthorized {
		t.Fatalf("token with a wrong secret = %d %s, want 401", r.code, r.body)
	}
	dash, r := ingToken(t, in, "dash", dashSecret)
	if r.code != http.StatusOK {
		t.Fatalf("token for dash = %d %s, want 200", r.code, r.body)
	}
	header, _, _ := strings.Cut(dash, ".")
	if h, _ := base64.RawURLEncoding.DecodeString(header); !strings.Contains(string(h), `"kid":"new"`) || !strings.Contains(string(h), `"alg":"HS256"`) {
		t.Errorf("token header %s, want alg HS256 and kid new", h)
	}
	readonly, r := ingToken(t, in, "readonly", roSecret)
	if r.code != http.StatusOK {
		t.Fatalf("token for readonly = %d %s, want 200", r.code, r.body)
	}

	post := func(token, path, body string) ingResponse {
		return ingDo(t, http.MethodPost, in.url+path, body, "Content-Type: application/json", "Authorization: Bearer "+token)
	}
	if r := post(readonly, "/events", ingEventJSON(newUUID())); r.code != http.StatusForbidden || !strings.Contains(r.body, "insufficient_scope") {
		t.Errorf("POST /events without the scope = %d %s, want 403 insufficient_scope", r.code, r.body)
	}
	// The AUTH_CLIENTS client still works beside the file.
	if r := post(in.token, "/events", ingEventJSON(newUUID())); r.code != http.StatusAccepted {
		t.Errorf("POST /events as the AUTH_CLIENTS client = %d %s, want 202", r.code, r.body)
	}

	// dash may send 500 events, then waits 2 s per event.
	items := make([]string, 500)
	for i := range items {
		items[i] = ingEventJSON(newUUID())
	}
	if r := post(dash, "/events/batch", "["+strings.Join(items, ",")+"]"); r.code != http.StatusOK || !strings.Contains(r.body, `"accepted":500`) {
		t.Fatalf("a full batch = %d %.200s, want 200 with 500 accepted", r.code, r.body)
	}
	r = post(dash, "/events", ingEventJSON(newUUID()))
	got := []string{fmt.Sprint(r.code), r.header.Get("Retry-After"), r.header.Get("RateLimit-Limit"), r.header.Get("RateLimit-Remaining")}
	if want := []string{"429", "2", "500", "0"}; !slices.Equal(got, want) {
		t.Errorf("status, Retry-After, RateLimit-Limit, RateLimit-Remaining = %v, want %v (%s)", got, want, r.body)
	}
	waitFor(t, 10*time.Second, func() (bool, string) {
		r := post(dash, "/events", ingEventJSON(newUUID()))
		return r.code == http.StatusAccepted, "dash's bucket to refill"
	})
}

// The answers to requests that are wrong in some way: right status, a place named, no internals.
func TestIngressRobustness(t *testing.T) {
	n := newNames(t)
	const dashboard = "https://dashboard.example.com"
	in := startIngress(t, n, "CORS_ALLOWED_ORIGINS="+dashboard, "MAX_BODY_BYTES=2048")
	auth := "Authorization: Bearer " + in.token
	jsonCT := "Content-Type: application/json"
	type give struct {
		method, path, body string
		header             []string
	}
	type want struct {
		code     int
		contains string // in the body, or in the named header as "Header: value"
	}
	tests := []struct {
		name string
		give give
		want want
	}{
		{"415 for text/plain", give{"POST", "/events", ingEventJSON(newUUID()), []string{auth, "Content-Type: text/plain"}}, want{415, "unsupported_media_type"}},
		{"413 over MAX_BODY_BYTES", give{"POST", "/events", `{"pad":"` + strings.Repeat("x", 4096) + `"}`, []string{auth, jsonCT}}, want{413, "body_too_large"}},
		{"413 batch over 1 MiB", give{"POST", "/events/batch", `[{"pad":"` + strings.Repeat("x", 1<<20) + `"}]`, []string{auth, jsonCT}}, want{413, "body_too_large"}},
		{"400 names the byte", give{"POST", "/events", `{"event_id": nope}`, []string{auth, jsonCT}}, want{400, "invalid JSON at byte 15"}},
		{"400 names line and column", give{"POST", "/events/batch", "[\n{\"a\":1},\n{\"b\" 2}]", []string{auth, jsonCT}}, want{400, "line 3, column 6"}},
		{"400 names the field of a type error", give{"POST", "/events", `{"event_id":5}`, []string{auth, jsonCT}}, want{400, `{"field":"event_id","reason":"must be a string"}`}},
		{"400 deep json", give{"POST", "/events", strings.Repeat("[", 100) + strings.Repeat("]", 100), []string{auth, jsonCT}}, want{400, "nested deeper than 32"}},
		{"400 too many events", give{"POST", "/events/batch", "[" + strings.TrimSuffix(strings.Repeat("{},", 501), ",") + "]", []string{auth, jsonCT}}, want{400, "at most 500"}},
		{"401 without token", give{"POST", "/events", ingEventJSON(newUUID()), []string{jsonCT}}, want{401, "missing bearer token"}},
		{"request id echoed", give{"GET", "/healthz", "", []string{"X-Request-Id: e2e-req-1"}}, want{200, "X-Request-Id: e2e-req-1"}},
		{"cors preflight", give{"OPTIONS", "/events", "", []string{"Origin: " + dashboard, "Access-Control-Request-Method: POST",
			"Access-Control-Request-Headers: authorization,content-type"}}, want{204, "Access-Control-Allow-Origin: " + dashboard}},
		{"cors from another origin", give{"OPTIONS", "/events", "", []string{"Origin: https://evil.example.com", "Access-Control-Request-Method: POST"}}, want{403, ""}},
		{"openapi", give{"GET", "/openapi.json", "", nil}, want{200, `"openapi": "3.0.3"`}},
		{"405", give{"GET", "/events", "", nil}, want{405, "method_not_allowed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ingDo(t, tt.give.method, in.url+tt.give.path, tt.give.body, tt.give.header...)
			found := strings.Contains(r.body, tt.want.contains)
			if name, value, ok := strings.Cut(tt.want.contains, ": "); ok && !strings.HasPrefix(name, "{") && !strings.Contains(name, `"`) {
				found = r.header.Get(name) == value
			}
			if r.code != tt.want.code || !found {
				t.Errorf("%s %s = %d %.300s (headers %v), want %d with %q", tt.give.method, tt.give.path, r.code, r.body, r.header, tt.want.code, tt.want.contains)
			}
			for _, leak := range []string{"goroutine ", ".go:", in.secret, in.token} {
				if strings.Contains(r.body, leak) {
					t.Errorf("answer leaks %q: %.300s", leak, r.body)
				}
			}
		})
	}
}

// With the broker stopped the ingress answers 503 with Retry-After within the produce bound and
// turns not-ready; once the broker is back it recovers by itself.
func TestIngressKafkaOutageAnswers503AndRecovers(t *testing.T) {
	needRealBroker(t)
	const produceTimeout = 2 * time.Second
	n := newNames(t)
	in := startIngress(t, n, "PRODUCE_TIMEOUT="+produceTimeout.String())
	post := func(path, body string) (ingResponse, time.Duration) {
		start := time.Now()
		r := ingDo(t, http.MethodPost, in.url+path, body, "Content-Type: application/json", "Authorization: Bearer "+in.token)
		return r, time.Since(start)
	}
	if r, _ := post("/events", ingEventJSON(newUUID())); r.code != http.StatusAccepted {
		t.Fatalf("POST /events before the outage = %d %s", r.code, r.body)
	}

	kafkaCtlRun(t, "stop")
	t.Cleanup(func() { kafkaCtlRun(t, "start") }) // a no-op when the broker already runs

	for _, path := range []string{"/events", "/events/batch"} {
		body := ingEventJSON(newUUID())
		if path == "/events/batch" {
			body = "[" + body + "," + ingEventJSON(newUUID()) + "]"
		}
		r, took := post(path, body)
		if r.code != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
			t.Errorf("POST %s with the broker down = %d (Retry-After %q) %s, want 503 with Retry-After", path, r.code, r.header.Get("Retry-After"), r.body)
		}
		// PRODUCE_TIMEOUT plus room for a loaded machine; the old service held clients for 30 s.
		if took > produceTimeout+3*time.Second {
			t.Errorf("POST %s with the broker down took %s, more than PRODUCE_TIMEOUT %s + 3s", path, took, produceTimeout)
		}
	}
	waitFor(t, 10*time.Second, func() (bool, string) {
		code, _, err := httpGet(in.admin + "/readyz")
		return err == nil && code == http.StatusServiceUnavailable, "/readyz to answer 503"
	})

	kafkaCtlRun(t, "start")
	recovered := newUUID()
	waitFor(t, 60*time.Second, func() (bool, string) {
		code, _, err := httpGet(in.admin + "/readyz")
		return err == nil && code == http.StatusOK, "/readyz to answer 200 again"
	})
	waitFor(t, 60*time.Second, func() (bool, string) {
		r, _ := post("/events", ingEventJSON(recovered))
		return r.code == http.StatusAccepted, "POST /events to answer 202 again"
	})
	if in.exited() {
		t.Fatalf("the ingress exited during the outage:\n%s", in.logText())
	}
	found := false
	for _, rec := range readAll(t, n.events) {
		found = found || string(rec.Key) == recovered
	}
	if !found {
		t.Fatalf("event %s answered 202 after the outage is not in %s", recovered, n.events)
	}
}
