package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// DefaultKID is the key id JWT_SECRET's key gets. Tokens issued before keys had ids carry none
// and are checked against this key.
const DefaultKID = "default"

// MinKeyBytes is the shortest HS256 key accepted: a key as long as the hash.
const MinKeyBytes = 32

const maxKIDLen = 64

// Keys are the HS256 keys tokens are verified with, by key id (kid), and the one new tokens are
// signed with. Rotating is adding a key, moving the signing kid to it, and removing the old key
// once the tokens it signed have expired (TOKEN_TTL).
type Keys struct {
	byKID      map[string][]byte
	signingKID string
}

// NewKeys returns Keys signing with signingKID. Every key must be at least MinKeyBytes long.
func NewKeys(byKID map[string][]byte, signingKID string) (*Keys, error) {
	if len(byKID) == 0 {
		return nil, errors.New("no keys")
	}
	var problems []string
	kids := make([]string, 0, len(byKID))
	for kid := range byKID {
		kids = append(kids, kid)
	}
	slices.Sort(kids)
	for _, kid := range kids {
		if len(byKID[kid]) < MinKeyBytes {
			problems = append(problems, fmt.Sprintf("key %q must be at least %d bytes, is %d", kid, MinKeyBytes, len(byKID[kid])))
		}
	}
	if _, ok := byKID[signingKID]; !ok {
		problems = append(problems, fmt.Sprintf("the signing key %q is not among the keys (%s)", signingKID, strings.Join(kids, ", ")))
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, ", "))
	}
	return &Keys{byKID: byKID, signingKID: signingKID}, nil
}

// ParseKeys reads JWT_KEYS ("kid:secret,kid:secret"). Errors never show a secret.
func ParseKeys(s string) (map[string][]byte, error) {
	keys := make(map[string][]byte)
	entries, problems := parseEntries(s, "kid:secret")
	for _, e := range entries {
		switch {
		case !validKID(e.name):
			problems = append(problems, fmt.Sprintf("entry %d: the key id must be 1 to %d printable characters without spaces", e.n, maxKIDLen))
		case keys[e.name] != nil:
			problems = append(problems, fmt.Sprintf("key %q is listed twice", e.name))
		default:
			keys[e.name] = []byte(e.secret)
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, ", "))
	}
	if len(keys) == 0 {
		return nil, errors.New("no keys")
	}
	return keys, nil
}

// KIDs returns the key ids, sorted, for the start-up log.
func (k *Keys) KIDs() []string {
	kids := make([]string, 0, len(k.byKID))
	for kid := range k.byKID {
		kids = append(kids, kid)
	}
	slices.Sort(kids)
	return kids
}

// SigningKID is the id of the key new tokens are signed with.
func (k *Keys) SigningKID() string { return k.signingKID }

func (k *Keys) signing() []byte { return k.byKID[k.signingKID] }

func (k *Keys) lookup(kid string) ([]byte, bool) {
	key, ok := k.byKID[kid]
	return key, ok
}

func validKID(kid string) bool {
	if kid == "" || len(kid) > maxKIDLen {
		return false
	}
	for i := range len(kid) {
		if kid[i] < 0x21 || kid[i] > 0x7e {
			return false
		}
	}
	return true
}

// entry is one "name:secret" item of a comma-separated list (JWT_KEYS, AUTH_CLIENTS); n counts
// from 1, for messages that must not show the secret.
type entry struct {
	n            int
	name, secret string
}

// parseEntries splits s into its entries, names trimmed and empty items skipped; an item without
// ':' is a problem, "entry N is not <form>".
func parseEntries(s, form string) (entries []entry, problems []string) {
	for i, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, secret, found := strings.Cut(item, ":")
		if !found {
			problems = append(problems, fmt.Sprintf("entry %d is not %s", i+1, form))
			continue
		}
		entries = append(entries, entry{n: i + 1, name: strings.TrimSpace(name), secret: secret})
	}
	return entries, problems
}
