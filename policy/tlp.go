package policy

import (
	"fmt"
	"strings"
)

// TLP is a Traffic Light Protocol 2.0 label (FIRST, 2022).
type TLP string

// The TLP 2.0 labels.
const (
	TLPClear       TLP = "CLEAR"
	TLPGreen       TLP = "GREEN"
	TLPAmber       TLP = "AMBER"
	TLPAmberStrict TLP = "AMBER+STRICT"
	TLPRed         TLP = "RED"
)

// ParseTLP reads a label in any letter case, with or without "TLP:".
// The empty string is no label.
func ParseTLP(s string) (TLP, error) {
	v := strings.ToUpper(strings.TrimSpace(s))
	v = strings.TrimPrefix(v, "TLP:")
	switch TLP(v) {
	case "", TLPClear, TLPGreen, TLPAmber, TLPAmberStrict, TLPRed:
		return TLP(v), nil
	case "WHITE":
		return "", fmt.Errorf("TLP %q is TLP 1.0: TLP 2.0 calls it CLEAR", s)
	}
	return "", fmt.Errorf("TLP %q is not one of CLEAR, GREEN, AMBER, AMBER+STRICT, RED", s)
}

// Header returns the label as written in the Cofswitch-TLP header,
// "TLP:AMBER", or "" for no label.
func (t TLP) Header() string {
	if t == "" {
		return ""
	}
	return "TLP:" + string(t)
}
