package follow

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// LoadPositions reads the positions SavePositions wrote, by path; a
// missing file is no position at all.
func LoadPositions(file string) (map[string]Position, error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]Position{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("positions %s: %w", file, err)
	}
	var list []Position
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, fmt.Errorf("positions %s: %w", file, err)
	}
	out := make(map[string]Position, len(list))
	for _, p := range list {
		out[p.Path] = p
	}
	return out, nil
}

// SavePositions writes positions to file durably: a temporary file,
// synced, renamed over it, so a crash leaves the old positions or the
// new ones.
func SavePositions(file string, positions []Position) error {
	b, err := json.MarshalIndent(positions, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".positions-*")
	if err != nil {
		return fmt.Errorf("positions %s: %w", file, err)
	}
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("positions %s: %w", file, err)
	}
	return nil
}
