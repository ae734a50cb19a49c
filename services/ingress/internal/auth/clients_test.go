package auth

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/martech/eventfwd/services/ingress/internal/ratelimit"
)

func TestParseClients(t *testing.T) {
	tests := []struct {
		name    string
		give    string
		wantIDs []string
		wantErr string // substring; "" means no error
	}{
		{name: "two clients", give: "web:s3cret-web,app:s3cret-app", wantIDs: []string{"app", "web"}},
		{name: "spaces and empty items", give: " web:s3cret-web , ,app:s3cret-app,", wantIDs: []string{"app", "web"}},
		{name: "colon in secret", give: "web:a:b:c", wantIDs: []string{"web"}},
		{name: "missing colon", give: "web", wantErr: "entry 1 is not id:secret"},
		{name: "empty id", give: "web:x,:hunter2", wantErr: "entry 2 has an empty client id"},
		{name: "empty secret", give: "web:", wantErr: `client "web" has an empty secret`},
		{name: "duplicate", give: "web:hunter2,web:hunter3", wantErr: `client "web" is listed twice`},
		{name: "nothing", give: " , ", wantErr: "no clients"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clients, err := ParseClients(tt.give)
			var gotIDs []string
			if clients != nil {
				gotIDs = clients.IDs()
			}
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if !slices.Equal(gotIDs, tt.wantIDs) {
				t.Errorf("IDs() = %v, want %v", gotIDs, tt.wantIDs)
			}
			if !strings.Contains(gotErr, tt.wantErr) || (tt.wantErr == "") != (gotErr == "") {
				t.Errorf("error = %q, want it to contain %q", gotErr, tt.wantErr)
			}
			if strings.Contains(gotErr, "hunter") {
				t.Errorf("error %q shows a secret", gotErr)
			}
		})
	}
}

func TestClientsAuthenticate(t *testing.T) {
	clients, err := ParseClients("web:s3cret-web,app:s3cret-app")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		id, secret string
		want       bool
	}{
		{name: "right secret", id: "web", secret: "s3cret-web", want: true},
		{name: "other client's secret", id: "web", secret: "s3cret-app", want: false},
		{name: "wrong secret", id: "web", secret: "s3cret-we", want: false},
		{name: "unknown client", id: "nobody", secret: "s3cret-web", want: false},
		{name: "empty", id: "", secret: "", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, got := clients.Authenticate(tt.id, tt.secret); got != tt.want {
				t.Errorf("Authenticate(%q, ...) = %v, want %v", tt.id, got, tt.want)
			}
		})
	}
}

// dashHash is the bcrypt hash of "s3cret-dash", made once: bcrypt is slow on purpose.
var dashHash = sync.OnceValue(func() string {
	h, err := HashSecret([]byte("s3cret-dash"), MinBcryptCost)
	if err != nil {
		panic(err)
	}
	return h
})

func TestParseClientsFile(t *testing.T) {
	lowCost, err := bcrypt.GenerateFromPassword([]byte("x"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		give    string
		want    []Client
		wantErr string
	}{
		{
			name: "yaml",
			give: fmt.Sprintf("clients:\n  - id: dash\n    secret_hash: %q\n    rate_limit: {rps: 50, burst: 600}\n"+
				"  - id: ro\n    secret_hash: %q\n    scopes: []\n", dashHash(), dashHash()),
			want: []Client{
				{ID: "dash", Scopes: []string{ScopeEventsWrite}, Limit: &ratelimit.Limit{Rate: 50, Burst: 600}},
				{ID: "ro", Scopes: []string{}},
			},
		},
		{
			name: "json",
			give: fmt.Sprintf(`{"clients":[{"id":"dash","secret_hash":%q,"scopes":["events:write"]}]}`, dashHash()),
			want: []Client{{ID: "dash", Scopes: []string{ScopeEventsWrite}}},
		},
		{name: "unknown key", give: `{"clients":[{"id":"dash","secret":"hunter2"}]}`, wantErr: "field secret not found"},
		{name: "not bcrypt", give: `{"clients":[{"id":"dash","secret_hash":"hunter2"}]}`, wantErr: `client "dash": secret_hash is not a bcrypt hash`},
		{name: "low cost", give: fmt.Sprintf(`{"clients":[{"id":"dash","secret_hash":%q}]}`, lowCost), wantErr: "bcrypt cost 4, below 10"},
		{name: "no hash", give: `{"clients":[{"id":"dash"}]}`, wantErr: `client "dash" has no secret_hash`},
		{name: "no id", give: fmt.Sprintf(`{"clients":[{"secret_hash":%q}]}`, dashHash()), wantErr: "client 1 has no id"},
		{name: "unknown scope", give: fmt.Sprintf(`{"clients":[{"id":"dash","secret_hash":%q,"scopes":["admin"]}]}`, dashHash()), wantErr: `unknown scope "admin"`},
		{name: "bad rate limit", give: fmt.Sprintf(`{"clients":[{"id":"dash","secret_hash":%q,"rate_limit":{"rps":0}}]}`, dashHash()), wantErr: "rate_limit needs rps > 0"},
		{name: "duplicate", give: fmt.Sprintf(`{"clients":[{"id":"d","secret_hash":%q},{"id":"d","secret_hash":%q}]}`, dashHash(), dashHash()), wantErr: `client "d" is listed twice`},
		{name: "empty", give: `{"clients":[]}`, wantErr: "no clients"},
		{name: "not a document", give: "clients: [", wantErr: "not a clients document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clients, err := ParseClientsFile([]byte(tt.give))
			var got []Client
			for _, id := range clientIDs(clients) {
				c, _ := clients.Lookup(id)
				got = append(got, c)
			}
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if describe(got) != describe(tt.want) {
				t.Errorf("clients = %v, want %v", got, tt.want)
			}
			if !strings.Contains(gotErr, tt.wantErr) || (tt.wantErr == "") != (gotErr == "") {
				t.Errorf("error = %q, want it to contain %q", gotErr, tt.wantErr)
			}
			if strings.Contains(gotErr, "hunter") || strings.ContainsRune(gotErr, '\n') {
				t.Errorf("error %q shows a secret or spans lines", gotErr)
			}
		})
	}
}

// describe shows clients with their limits, not the limits' addresses.
func describe(cs []Client) string {
	var b strings.Builder
	for _, c := range cs {
		limit := "default"
		if c.Limit != nil {
			limit = fmt.Sprint(*c.Limit)
		}
		fmt.Fprintf(&b, "{%s %q %s}", c.ID, c.Scopes, limit)
	}
	return b.String()
}

func clientIDs(c *Clients) []string {
	if c == nil {
		return nil
	}
	return c.IDs()
}

func TestAuthenticateHashed(t *testing.T) {
	file, err := ParseClientsFile([]byte(fmt.Sprintf(`{"clients":[{"id":"dash","secret_hash":%q}]}`, dashHash())))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := ParseClients("web:s3cret-web")
	if err != nil {
		t.Fatal(err)
	}
	clients, err := Join(plain, file)
	if err != nil {
		t.Fatal(err)
	}
	long := "s3cret-dash" + strings.Repeat("x", 70)
	tests := []struct {
		name       string
		id, secret string
		want       bool
	}{
		{name: "right secret", id: "dash", secret: "s3cret-dash", want: true},
		{name: "right secret again, from the cache", id: "dash", secret: "s3cret-dash", want: true},
		{name: "wrong secret", id: "dash", secret: "s3cret-dasH", want: false},
		{name: "longer than bcrypt reads", id: "dash", secret: long, want: false},
		{name: "plain client beside it", id: "web", secret: "s3cret-web", want: true},
		{name: "unknown client", id: "nobody", secret: "s3cret-dash", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, got := clients.Authenticate(tt.id, tt.secret)
			if got != tt.want || (got && c.ID != tt.id) {
				t.Errorf("Authenticate(%q, ...) = %+v, %v; want %v", tt.id, c, got, tt.want)
			}
		})
	}
}

// TestAuthenticateCostsTheSame checks that an unknown client id, and a wrong secret of an
// AUTH_CLIENTS client beside a clients file, cost bcrypt work like a wrong secret does, and that
// a cached right secret skips it.
func TestAuthenticateCostsTheSame(t *testing.T) {
	file, err := ParseClientsFile([]byte(fmt.Sprintf(`{"clients":[{"id":"dash","secret_hash":%q}]}`, dashHash())))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := ParseClients("web:s3cret-web")
	if err != nil {
		t.Fatal(err)
	}
	clients, err := Join(plain, file)
	if err != nil {
		t.Fatal(err)
	}
	took := func(id, secret string) time.Duration {
		start := time.Now()
		clients.Authenticate(id, secret)
		return time.Since(start)
	}
	took("dash", "s3cret-dash") // fills the cache
	cached := took("dash", "s3cret-dash")
	wrong := took("dash", "wrong")
	unknown := took("nobody", "wrong")
	plainWrong := took("web", "wrong")
	if unknown < wrong/3 {
		t.Errorf("an unknown id took %s, a wrong secret %s: the unknown-id path skips bcrypt", unknown, wrong)
	}
	if plainWrong < wrong/3 {
		t.Errorf("a wrong AUTH_CLIENTS secret took %s, a wrong file secret %s: AUTH_CLIENTS ids stand out", plainWrong, wrong)
	}
	if cached > wrong/3 {
		t.Errorf("a cached secret took %s, a wrong one %s: the cache is not used", cached, wrong)
	}
}

func TestJoin(t *testing.T) {
	a, _ := ParseClients("web:x")
	b, _ := ParseClients("web:y")
	if _, err := Join(a, b); err == nil || !strings.Contains(err.Error(), `client "web" is listed twice`) {
		t.Errorf("Join() error = %v, want the duplicate named", err)
	}
}

func TestHashSecret(t *testing.T) {
	tests := []struct {
		name    string
		give    string
		wantErr string
	}{
		{name: "secret", give: "s3cret-dash"},
		{name: "empty", give: "", wantErr: "the secret is empty"},
		{name: "too long", give: strings.Repeat("x", 73), wantErr: "bcrypt uses only the first 72"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hash, err := HashSecret([]byte(tt.give), bcrypt.MinCost)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if !strings.Contains(gotErr, tt.wantErr) || (tt.wantErr == "") != (gotErr == "") {
				t.Errorf("error = %q, want it to contain %q", gotErr, tt.wantErr)
			}
			if tt.wantErr == "" && bcrypt.CompareHashAndPassword([]byte(hash), []byte(tt.give)) != nil {
				t.Errorf("hash %q does not match the secret", hash)
			}
		})
	}
}
