package sim

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// maxControlBytes bounds a POST /_sim/control body.
const maxControlBytes = 64 << 10

// Options configure a Handler.
type Options struct {
	APIKey    string   // required X-Api-Key
	Settings  Settings // failure injection at start
	Seed      uint64   // non-zero: reproducible failure draws and jitter, at the cost of one lock
	MaxEvents int      // distinct ids kept; 0 means DefaultMaxEvents
	Log       *slog.Logger
	// Registerer receives the simulator's metrics; nil means a private registry with the Go
	// and process collectors. GET /metrics serves Gatherer (that registry when nil).
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
}

// Handler is the simulated AdEventsX API plus its /_sim endpoints.
type Handler struct {
	apiKey    []byte
	log       *slog.Logger
	rand      randSource
	maxEvents int
	mux       *http.ServeMux

	settings atomic.Pointer[active]
	failNext atomic.Pointer[failNext]
	store    atomic.Pointer[store]
	stats    atomic.Pointer[stats]
	inFlight atomic.Int64 // not reset: requests in flight at a reset still finish

	controlMu sync.Mutex // serialises read-modify-write of settings; the request path never takes it

	stopping chan struct{}
	stopOnce sync.Once
}

// New checks the options and builds a Handler.
func New(opts Options) (*Handler, error) {
	if opts.APIKey == "" {
		return nil, errors.New("api key is empty")
	}
	if err := opts.Settings.Validate(); err != nil {
		return nil, fmt.Errorf("settings: %w", err)
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.MaxEvents <= 0 {
		opts.MaxEvents = DefaultMaxEvents
	}
	h := &Handler{
		apiKey:    []byte(opts.APIKey),
		log:       opts.Log,
		rand:      globalRand{},
		maxEvents: opts.MaxEvents,
		mux:       http.NewServeMux(),
		stopping:  make(chan struct{}),
	}
	if opts.Seed != 0 {
		h.rand = &seededRand{r: rand.New(rand.NewPCG(opts.Seed, opts.Seed))}
	}
	h.settings.Store(newActive(opts.Settings))
	h.failNext.Store(&failNext{status: 503})
	h.store.Store(newStore(h.maxEvents))
	h.stats.Store(new(stats))

	reg, gath := opts.Registerer, opts.Gatherer
	if reg == nil {
		r := prometheus.NewRegistry()
		r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		reg, gath = r, r
	}
	if err := reg.Register(newCollector(h)); err != nil {
		return nil, fmt.Errorf("register metrics: %w", err)
	}

	h.mux.HandleFunc("POST /v1/conversions", h.conversions)
	h.mux.HandleFunc("GET /_sim/received", h.received)
	h.mux.HandleFunc("GET /_sim/stats", h.statsHandler)
	h.mux.HandleFunc("POST /_sim/reset", h.reset)
	h.mux.HandleFunc("GET /_sim/control", h.getControl)
	h.mux.HandleFunc("POST /_sim/control", h.postControl)
	h.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeRaw(w, http.StatusOK, []byte(`{"status":"ok"}`), nil)
	})
	if gath != nil {
		h.mux.Handle("GET /metrics", promhttp.HandlerFor(gath, promhttp.HandlerOpts{}))
	}
	return h, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// Stop answers every held or waiting request with 503 at once, so that http.Server.Shutdown
// does not wait for timeout holds. Call it before Shutdown; it is safe to call more than once.
func (h *Handler) Stop() { h.stopOnce.Do(func() { close(h.stopping) }) }

func (h *Handler) received(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	summary := q.Get("summary") == "1" || q.Get("summary") == "true"
	s := h.store.Load()

	if q.Has("event_id") {
		id := q.Get("event_id")
		ev, ok := s.get(id)
		if !ok {
			writeJSON(w, http.StatusNotFound, errorView{Error: "not_found", Detail: fmt.Sprintf("event %q was not received", id)})
			return
		}
		resp := struct {
			totals
			Events []eventView `json:"events,omitempty"`
		}{totals: totals{Count: 1, Total: ev.Times, Duplicates: ev.Times - 1}}
		if !summary {
			resp.Events = []eventView{ev}
		}
		writeJSON(w, http.StatusOK, resp)
		return
	}

	if summary {
		writeJSON(w, http.StatusOK, s.totals())
		return
	}

	// The list can be long: stream it rather than build one big document.
	t, evs := s.snapshot()
	w.Header()["Content-Type"] = contentTypeJSON
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	head, _ := json.Marshal(t)
	bw.Write(head[:len(head)-1]) // without its closing brace
	bw.WriteString(`,"events":[`)
	for i := range evs {
		if i > 0 {
			bw.WriteByte(',')
		}
		b, _ := json.Marshal(&evs[i])
		bw.Write(b)
	}
	bw.WriteString("]}\n")
	if err := bw.Flush(); err != nil {
		h.log.Debug("write received list", "err", err)
	}
}

func (h *Handler) statsHandler(w http.ResponseWriter, _ *http.Request) {
	st := h.stats.Load()
	writeJSON(w, http.StatusOK, statsView{
		Requests:  st.requests.Load(),
		InFlight:  h.inFlight.Load(),
		Responses: st.byStatus(),
	})
}

func (h *Handler) reset(w http.ResponseWriter, _ *http.Request) {
	h.store.Store(newStore(h.maxEvents))
	h.stats.Store(new(stats))
	h.log.Info("sim reset")
	writeRaw(w, http.StatusOK, []byte(`{"status":"reset"}`), nil)
}

func (h *Handler) getControl(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, newControlView(h.settings.Load().Settings, h.failNext.Load()))
}

func (h *Handler) postControl(w http.ResponseWriter, r *http.Request) {
	var p controlPatch
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxControlBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		writeJSON(w, http.StatusBadRequest, errorView{Error: "invalid_control", Detail: strings.TrimPrefix(err.Error(), "json: ")})
		return
	}
	if err := noTrailingData(dec); err != nil {
		writeJSON(w, http.StatusBadRequest, errorView{Error: "invalid_control", Detail: err.Error()})
		return
	}

	h.controlMu.Lock()
	s, fn, err := p.apply(h.settings.Load().Settings)
	if err == nil {
		h.settings.Store(newActive(s))
		if fn != nil {
			h.failNext.Store(fn)
		}
	}
	v := newControlView(h.settings.Load().Settings, h.failNext.Load())
	h.controlMu.Unlock()

	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorView{Error: "invalid_control", Detail: err.Error()})
		return
	}
	h.log.Info("sim control updated", "settings", v)
	writeJSON(w, http.StatusOK, v)
}

// errorView is every error body.
type errorView struct {
	Error  string `json:"error"`
	Detail string `json:"detail,omitempty"`
}

// contentTypeJSON is shared by every response; net/http only reads header slices.
var contentTypeJSON = []string{"application/json"}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only our own types get here
		status, b = http.StatusInternalServerError, errorBody(http.StatusInternalServerError)
	}
	writeRaw(w, status, append(b, '\n'), nil)
}

// writeRaw writes a JSON body; tag, if any, goes into X-Sim-Injected.
func writeRaw(w http.ResponseWriter, status int, body []byte, tag []string) {
	hdr := w.Header()
	hdr["Content-Type"] = contentTypeJSON
	if tag != nil {
		hdr["X-Sim-Injected"] = tag
	}
	w.WriteHeader(status)
	_, _ = w.Write(body) // a client that went away is not our problem
}

// errorBodies are the bodies of injected and rejected answers, built once.
var errorBodies = func() (b [600][]byte) {
	names := map[int]string{
		400: "invalid_payload", 401: "unauthorized", 429: "rate_limited",
		500: "internal_error", 503: "unavailable", 504: "timeout",
	}
	for code := 400; code < len(b); code++ {
		name, ok := names[code]
		if !ok {
			name = strings.Map(func(r rune) rune {
				if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
					return r
				}
				return '_'
			}, strings.ToLower(cmp.Or(http.StatusText(code), "status_"+strconv.Itoa(code))))
		}
		v := errorView{Error: name}
		if code == 400 {
			v.Detail = "injected failure"
		}
		b[code], _ = json.Marshal(v)
		b[code] = append(b[code], '\n')
	}
	return b
}()

func errorBody(status int) []byte {
	if status >= 400 && status < len(errorBodies) {
		return errorBodies[status]
	}
	return errorBodies[http.StatusInternalServerError]
}

// randSource draws failures and jitter.
type randSource interface {
	Float64() float64
	Int64N(n int64) int64
}

// globalRand is math/rand/v2's top-level generator: per-thread state, no lock.
type globalRand struct{}

func (globalRand) Float64() float64     { return rand.Float64() }
func (globalRand) Int64N(n int64) int64 { return rand.Int64N(n) }

// seededRand is reproducible for a reproducible order of requests; rand.Rand is not safe for
// concurrent use, hence the lock.
type seededRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func (s *seededRand) Float64() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r.Float64()
}

func (s *seededRand) Int64N(n int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r.Int64N(n)
}
