// Package auth issues and verifies the ingress's access tokens: the API clients and their
// secrets, the signing keys, the OAuth2 client-credentials endpoint (POST /auth/token), the JWTs
// and the Gin middleware that guards the event routes.
package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/bcrypt"
	"gopkg.in/yaml.v3"

	"github.com/martech/eventfwd/services/ingress/internal/ratelimit"
)

// ScopeEventsWrite lets a client send events; POST /events and POST /events/batch require it.
const ScopeEventsWrite = "events:write"

// knownScopes are the scopes a clients file may grant; anything else is a typo.
var knownScopes = []string{ScopeEventsWrite}

// MinBcryptCost is the lowest bcrypt cost a clients file may use.
const MinBcryptCost = bcrypt.DefaultCost

// maxBcryptSecret is the longest secret bcrypt tells apart: it ignores what follows.
const maxBcryptSecret = 72

// Client is one API client allowed to obtain tokens.
type Client struct {
	ID     string
	Scopes []string
	// Limit is the client's own event rate limit; nil means the configured default.
	Limit *ratelimit.Limit
}

// client is a Client with what checks its secret: a SHA-256 digest (AUTH_CLIENTS) or a bcrypt
// hash (AUTH_CLIENTS_FILE).
type client struct {
	Client
	digest [sha256.Size]byte
	hash   []byte
	// verified is the digest of the secret bcrypt last accepted. bcrypt costs tens of
	// milliseconds on purpose; a client fetching tokens over and over pays it once.
	verified atomic.Pointer[[sha256.Size]byte]
}

// Clients are the API clients allowed to obtain tokens. Secrets are never kept: only SHA-256
// digests or bcrypt hashes of them.
type Clients struct {
	byID map[string]*client
	// decoy is what an unknown client id is checked against, so that it costs the same work as
	// a wrong secret: a digest, or a bcrypt hash once any client has one.
	decoyDigest [sha256.Size]byte
	decoyHash   []byte
}

func newClients() (*Clients, error) {
	c := &Clients{byID: make(map[string]*client)}
	if _, err := rand.Read(c.decoyDigest[:]); err != nil {
		return nil, fmt.Errorf("generate decoy digest: %w", err)
	}
	return c, nil
}

// ParseClients reads AUTH_CLIENTS ("id:secret,id:secret"). Each client gets the scope
// events:write and the default rate limit. Errors name the position or the id of the bad entry,
// never a secret.
func ParseClients(s string) (*Clients, error) {
	c, err := newClients()
	if err != nil {
		return nil, err
	}
	entries, problems := parseEntries(s, "id:secret")
	for _, e := range entries {
		id, secret := e.name, e.secret
		switch {
		case id == "":
			problems = append(problems, fmt.Sprintf("entry %d has an empty client id", e.n))
		case secret == "":
			problems = append(problems, fmt.Sprintf("client %q has an empty secret", id))
		default:
			if _, dup := c.byID[id]; dup {
				problems = append(problems, fmt.Sprintf("client %q is listed twice", id))
				continue
			}
			c.byID[id] = &client{
				Client: Client{ID: id, Scopes: []string{ScopeEventsWrite}},
				digest: sha256.Sum256([]byte(secret)),
			}
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, ", "))
	}
	if len(c.byID) == 0 {
		return nil, errors.New("no clients")
	}
	return c, nil
}

// clientsFile is the document AUTH_CLIENTS_FILE holds, in YAML or JSON.
type clientsFile struct {
	Clients []struct {
		ID         string   `yaml:"id"`
		SecretHash string   `yaml:"secret_hash"`
		Scopes     []string `yaml:"scopes"`
		RateLimit  *struct {
			RPS   float64 `yaml:"rps"`
			Burst int     `yaml:"burst"`
		} `yaml:"rate_limit"`
	} `yaml:"clients"`
}

// ParseClientsFile reads the clients file: YAML, or JSON (which YAML reads too), as
//
//	clients:
//	  - id: dashboard
//	    secret_hash: "$2a$10$..."     # from `ingress hash-secret`
//	    scopes: [events:write]        # optional, this is the default
//	    rate_limit: {rps: 200, burst: 1000}  # optional, events per second
//
// Unknown keys are refused, so a misspelt setting does not pass silently.
func ParseClientsFile(data []byte) (*Clients, error) {
	var doc clientsFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("not a clients document: %s", oneLine(err.Error()))
	}
	c, err := newClients()
	if err != nil {
		return nil, err
	}
	var problems []string
	for i, fc := range doc.Clients {
		id := strings.TrimSpace(fc.ID)
		name := fmt.Sprintf("client %q", id)
		if id == "" {
			problems = append(problems, fmt.Sprintf("client %d has no id", i+1))
			continue
		}
		if _, dup := c.byID[id]; dup {
			problems = append(problems, name+" is listed twice")
			continue
		}
		hashCost, err := bcrypt.Cost([]byte(fc.SecretHash))
		switch {
		case fc.SecretHash == "":
			problems = append(problems, name+" has no secret_hash")
			continue
		case err != nil:
			problems = append(problems, name+": secret_hash is not a bcrypt hash (make one with `ingress hash-secret`)")
			continue
		case hashCost < MinBcryptCost:
			problems = append(problems, fmt.Sprintf("%s: secret_hash has bcrypt cost %d, below %d", name, hashCost, MinBcryptCost))
			continue
		}
		cl := &client{Client: Client{ID: id, Scopes: fc.Scopes}, hash: []byte(fc.SecretHash)}
		if fc.Scopes == nil {
			cl.Scopes = []string{ScopeEventsWrite}
		}
		for _, s := range cl.Scopes {
			if !slices.Contains(knownScopes, s) {
				problems = append(problems, fmt.Sprintf("%s: unknown scope %q (known: %s)", name, s, strings.Join(knownScopes, ", ")))
			}
		}
		if rl := fc.RateLimit; rl != nil {
			if rl.RPS <= 0 || rl.Burst < 1 {
				problems = append(problems, name+": rate_limit needs rps > 0 and burst >= 1")
			}
			cl.Limit = &ratelimit.Limit{Rate: rl.RPS, Burst: rl.Burst}
		}
		c.byID[id] = cl
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, ", "))
	}
	if len(c.byID) == 0 {
		return nil, errors.New("no clients")
	}
	if err := c.makeDecoyHash(); err != nil {
		return nil, err
	}
	return c, nil
}

// Join puts client sets together; an id in two of them is an error.
func Join(sets ...*Clients) (*Clients, error) {
	out, err := newClients()
	if err != nil {
		return nil, err
	}
	for _, set := range sets {
		for id, cl := range set.byID {
			if _, dup := out.byID[id]; dup {
				return nil, fmt.Errorf("client %q is listed twice", id)
			}
			out.byID[id] = cl
		}
		if set.decoyHash != nil && (out.decoyHash == nil || cost(set.decoyHash) > cost(out.decoyHash)) {
			out.decoyHash = set.decoyHash
		}
	}
	return out, nil
}

// makeDecoyHash gives the unknown-id path a bcrypt hash as costly as the costliest client's.
func (c *Clients) makeDecoyHash() error {
	highest := 0
	for _, cl := range c.byID {
		if cl.hash != nil {
			highest = max(highest, cost(cl.hash))
		}
	}
	if highest == 0 {
		return nil
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret) // crypto/rand.Read never returns an error (Go 1.24+)
	hash, err := bcrypt.GenerateFromPassword(secret, highest)
	if err != nil {
		return fmt.Errorf("generate decoy hash: %w", err)
	}
	c.decoyHash = hash
	return nil
}

// Authenticate returns the client whose id and secret these are.
func (c *Clients) Authenticate(id, secret string) (Client, bool) {
	cl, known := c.byID[id]
	got := sha256.Sum256([]byte(secret))
	if !known {
		if c.decoyHash != nil {
			_ = bcrypt.CompareHashAndPassword(c.decoyHash, []byte(secret))
		} else {
			subtle.ConstantTimeCompare(got[:], c.decoyDigest[:])
		}
		return Client{}, false
	}
	if cl.hash == nil {
		if subtle.ConstantTimeCompare(got[:], cl.digest[:]) != 1 {
			// As slow as a wrong secret of a file client, so that AUTH_CLIENTS ids cannot be
			// told from the others by how fast they fail.
			if c.decoyHash != nil {
				_ = bcrypt.CompareHashAndPassword(c.decoyHash, []byte(secret))
			}
			return Client{}, false
		}
		return cl.Client, true
	}
	if v := cl.verified.Load(); v != nil && subtle.ConstantTimeCompare(got[:], v[:]) == 1 {
		return cl.Client, true
	}
	// bcrypt ignores bytes past the 72nd; a longer secret could match a shorter one's hash.
	if bcrypt.CompareHashAndPassword(cl.hash, []byte(secret)) != nil || len(secret) > maxBcryptSecret {
		return Client{}, false
	}
	cl.verified.Store(&got)
	return cl.Client, true
}

// AuthenticateKnown is Authenticate without bcrypt work: it accepts only a secret already known
// good, the digest of an AUTH_CLIENTS secret or the secret bcrypt last accepted for a file
// client. The token endpoint tries it first, so that a client whose secret was verified once is
// never held up by the budgets and the bounded bcrypt slots that guesses run into. It hashes the
// secret whether or not the id exists, so that its time tells nothing either.
func (c *Clients) AuthenticateKnown(id, secret string) (Client, bool) {
	got := sha256.Sum256([]byte(secret))
	cl, known := c.byID[id]
	want := &c.decoyDigest
	if known {
		want = &cl.digest
		if cl.hash != nil {
			if want = cl.verified.Load(); want == nil {
				want = &c.decoyDigest
			}
		}
	}
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 || !known {
		return Client{}, false
	}
	return cl.Client, true
}

// LogAttr is how a client id taken from a request is logged: as it is when it is configured;
// otherwise only a short hash and its length, because an unknown "id" may be anything: a
// secret pasted in the wrong field, or 60 KB of junk.
func (c *Clients) LogAttr(id string) slog.Attr {
	if _, known := c.byID[id]; known {
		return slog.String("client_id", id)
	}
	sum := sha256.Sum256([]byte(id))
	return slog.String("unknown_client_id", fmt.Sprintf("sha256:%x, %d bytes", sum[:4], len(id)))
}

// Lookup returns the client with this id.
func (c *Clients) Lookup(id string) (Client, bool) {
	cl, ok := c.byID[id]
	if !ok {
		return Client{}, false
	}
	return cl.Client, true
}

// IDs returns the client ids, sorted; start-up logs show them instead of the secrets.
func (c *Clients) IDs() []string {
	ids := make([]string, 0, len(c.byID))
	for id := range c.byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// HashSecret returns the bcrypt hash of a client secret for a clients file.
func HashSecret(secret []byte, cost int) (string, error) {
	switch {
	case len(secret) == 0:
		return "", errors.New("the secret is empty")
	case len(secret) > maxBcryptSecret:
		return "", fmt.Errorf("the secret is %d bytes; bcrypt uses only the first %d", len(secret), maxBcryptSecret)
	}
	hash, err := bcrypt.GenerateFromPassword(secret, cost)
	if err != nil {
		return "", fmt.Errorf("hash secret: %w", err)
	}
	return string(hash), nil
}

// cost is a checked bcrypt hash's cost.
func cost(hash []byte) int {
	n, _ := bcrypt.Cost(hash)
	return n
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
