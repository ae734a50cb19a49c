// Package auth issues and verifies the ingress's access tokens: the OAuth2 client-credentials
// endpoint (POST /auth/token), HS256 JWTs, and the Gin middleware that guards the event routes.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Clients are the API clients allowed to obtain tokens. Only SHA-256 digests of the secrets are
// kept, so every comparison is between two fixed-length values and takes the same time.
type Clients struct {
	secrets map[string][sha256.Size]byte
	// decoy is compared against when the client id is unknown, so that an unknown id costs the
	// same work as a wrong secret.
	decoy [sha256.Size]byte
}

// ParseClients reads AUTH_CLIENTS ("id:secret,id:secret"). Errors name the position or the id of
// the bad entry, never a secret.
func ParseClients(s string) (*Clients, error) {
	c := &Clients{secrets: make(map[string][sha256.Size]byte)}
	if _, err := rand.Read(c.decoy[:]); err != nil {
		return nil, fmt.Errorf("generate decoy digest: %w", err)
	}
	var problems []string
	for i, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		id, secret, found := strings.Cut(item, ":")
		id = strings.TrimSpace(id)
		switch {
		case !found:
			problems = append(problems, fmt.Sprintf("entry %d is not id:secret", i+1))
		case id == "":
			problems = append(problems, fmt.Sprintf("entry %d has an empty client id", i+1))
		case secret == "":
			problems = append(problems, fmt.Sprintf("client %q has an empty secret", id))
		default:
			if _, dup := c.secrets[id]; dup {
				problems = append(problems, fmt.Sprintf("client %q is listed twice", id))
				continue
			}
			c.secrets[id] = sha256.Sum256([]byte(secret))
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, ", "))
	}
	if len(c.secrets) == 0 {
		return nil, errors.New("no clients")
	}
	return c, nil
}

// Authenticate reports whether secret is the secret of client id.
func (c *Clients) Authenticate(id, secret string) bool {
	want, known := c.secrets[id]
	if !known {
		want = c.decoy
	}
	got := sha256.Sum256([]byte(secret))
	match := subtle.ConstantTimeCompare(got[:], want[:]) == 1
	return known && match
}

// IDs returns the client ids, sorted; start-up logs show them instead of the secrets.
func (c *Clients) IDs() []string {
	ids := make([]string, 0, len(c.secrets))
	for id := range c.secrets {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
