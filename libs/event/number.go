package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"

	"github.com/shopspring/decimal"
)

const (
	// maxPlaces and maxIntDigits bound a number's size before any arithmetic: "1e-999999999"
	// is valid JSON, but writing it out or rounding it would take gigabytes.
	maxPlaces    = 64
	maxIntDigits = 20
)

var (
	errNotNumber = errors.New("not a number")
	errTooLarge  = errors.New("too large")
	errTooSmall  = errors.New("too large and negative")
	errPrecise   = fmt.Errorf("must have at most %d decimal places", maxPlaces)
)

var maxCents = decimal.NewFromInt(math.MaxInt64)

// parseDecimal reads s exactly. s must follow the JSON number grammar, so hex, NaN, Inf, "",
// "+1", ".5" and spaces are all refused. The result has no trailing zeros in its coefficient,
// so equal numbers decode to the same representation.
func parseDecimal(s string) (decimal.Decimal, error) {
	d, _, err := scanDecimal(s)
	return d, err
}

// scanDecimal is parseDecimal that also returns how many digits d has before the decimal point
// (for d = 0, or |d| < 1, zero or less).
func scanDecimal(s string) (d decimal.Decimal, intDigits int, err error) {
	i := 0
	neg := i < len(s) && s[i] == '-'
	if neg {
		i++
	}
	intPart := digits(s, &i)
	if intPart == "" || len(intPart) > 1 && intPart[0] == '0' {
		return decimal.Decimal{}, 0, errNotNumber
	}
	var frac string
	if i < len(s) && s[i] == '.' {
		i++
		if frac = digits(s, &i); frac == "" {
			return decimal.Decimal{}, 0, errNotNumber
		}
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		expNeg := i < len(s) && s[i] == '-'
		if i < len(s) && (s[i] == '-' || s[i] == '+') {
			i++
		}
		e := digits(s, &i)
		if e == "" {
			return decimal.Decimal{}, 0, errNotNumber
		}
		for _, c := range e {
			exp = min(exp*10+int(c-'0'), 1e9) // any exponent this big is out of range anyway
		}
		if expNeg {
			exp = -exp
		}
	}
	if i != len(s) {
		return decimal.Decimal{}, 0, errNotNumber
	}

	// The coefficient is intPart+frac without its leading and trailing zeros; it is indexed in
	// place rather than built, since most numbers need no big.Int at all.
	all := len(intPart) + len(frac)
	digit := func(k int) byte {
		if k < len(intPart) {
			return intPart[k]
		}
		return frac[k-len(intPart)]
	}
	lead := 0
	for lead < all && digit(lead) == '0' {
		lead++
	}
	end := all
	for end > lead && digit(end-1) == '0' {
		end--
	}
	n := end - lead // significant digits
	exp += all - end - len(frac)
	switch {
	case n == 0:
		return decimal.Zero, 0, nil
	case exp < -maxPlaces:
		return decimal.Decimal{}, 0, errPrecise
	case n+exp > maxIntDigits && neg:
		return decimal.Decimal{}, 0, errTooSmall
	case n+exp > maxIntDigits:
		return decimal.Decimal{}, 0, errTooLarge
	}
	if n <= 18 { // fits an int64
		var c int64
		for k := lead; k < end; k++ {
			c = c*10 + int64(digit(k)-'0')
		}
		if neg {
			c = -c
		}
		return decimal.New(c, int32(exp)), n + exp, nil
	}
	coef := strings.TrimRight(strings.TrimLeft(intPart+frac, "0"), "0")
	b, _ := new(big.Int).SetString(coef, 10)
	if neg {
		b.Neg(b)
	}
	return decimal.NewFromBigInt(b, int32(exp)), n + exp, nil
}

func digits(s string, i *int) string {
	start := *i
	for *i < len(s) && '0' <= s[*i] && s[*i] <= '9' {
		*i++
	}
	return s[start:*i]
}

// numberText returns the text of a JSON number or of a JSON string; ok is false for other types.
func numberText(raw json.RawMessage) (text string, isString, ok bool) {
	switch c := raw[0]; {
	case c == '"':
		s, ok := unquote(raw)
		return s, true, ok
	case c == '-' || '0' <= c && c <= '9':
		return string(raw), false, true
	}
	return "", false, false
}

// readValue reads value: a number or numeric string, >= 0, whose cents fit an int64.
func readValue(raw json.RawMessage) (decimal.Decimal, string) {
	text, _, ok := numberText(raw)
	if !ok {
		return decimal.Decimal{}, "must be a number or numeric string"
	}
	d, intDigits, err := scanDecimal(text)
	switch {
	case errors.Is(err, errNotNumber):
		return decimal.Decimal{}, "must be a number or numeric string"
	case errors.Is(err, errTooLarge):
		return decimal.Decimal{}, "is too large"
	case errors.Is(err, errTooSmall) || err == nil && d.Sign() < 0:
		return decimal.Decimal{}, "must be >= 0"
	case err != nil:
		return decimal.Decimal{}, err.Error()
	// Below 1e16 the cents stay under 1e18 whatever the rounding: no need to compute them.
	case intDigits > 16 && cents(d).GreaterThan(maxCents):
		return decimal.Decimal{}, "is too large"
	}
	return d, ""
}

// cents is d*100 rounded to a whole number, halves away from zero, in exact decimal arithmetic.
func cents(d decimal.Decimal) decimal.Decimal {
	return d.Shift(2).Round(0)
}
