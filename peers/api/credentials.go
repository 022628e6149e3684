package api

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cofswitch/cofswitch/secretfile"
)

// ErrNoCredentials reports a query server given no API key and no user:
// the database does not answer anonymous queries.
var ErrNoCredentials = errors.New("api: no API key and no user")

// LoadCredentials reads API keys, one per line, from keysFile and the
// comma-separated list envKeys, and users as user:password lines from
// usersFile (either file may be ""; a file that others than its owner may
// read is refused, see package secretfile). Blank lines and # comments are
// skipped. Having neither keys nor users is ErrNoCredentials.
func LoadCredentials(keysFile, usersFile, envKeys string) (keys []string, users map[string]string, err error) {
	users = map[string]string{}
	if envKeys != "" {
		keys = append(keys, strings.Split(envKeys, ",")...)
	}
	k, err := readLines(keysFile)
	if err != nil {
		return nil, nil, err
	}
	keys = append(keys, k...)
	u, err := readLines(usersFile)
	if err != nil {
		return nil, nil, err
	}
	for _, l := range u {
		user, pass, ok := strings.Cut(l, ":")
		if !ok || user == "" || pass == "" {
			return nil, nil, fmt.Errorf("api: %s: a line is not user:password", usersFile)
		}
		users[user] = pass
	}
	if len(keys) == 0 && len(users) == 0 {
		return nil, nil, ErrNoCredentials
	}
	return keys, users, nil
}

func readLines(path string) ([]string, error) {
	if path == "" {
		return nil, nil
	}
	data, err := secretfile.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out, nil
}
