package policy

import (
	"encoding/hex"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cofswitch/cofswitch/cof"
	"github.com/cofswitch/cofswitch/secretfile"
)

// Env is what compiling needs from the world, injectable for tests.
type Env struct {
	Getenv   func(string) string
	ReadFile func(string) ([]byte, error)
	Now      func() time.Time
}

// DefaultEnv reads the process environment, the file system and the clock.
// Key files are read as secrets: one that others than its owner may read
// is refused (see package secretfile).
func DefaultEnv() Env { return Env{Getenv: os.Getenv, ReadFile: secretfile.ReadFile, Now: time.Now} }

// Defaults of the transforms.
const (
	DefaultPseudonymPrefix = "pseudo-"
	DefaultPseudonymLength = 16
	cryptoPAnCacheSize     = 1 << 19 // slots; 4 MiB + 64 B per filled slot
	labelCacheSize         = 1 << 18 // slots; 2 MiB + about 80 B per filled slot
	nameCacheSize          = 1 << 18
)

// Compiled is a policy ready to apply: filters as predicates, transforms
// as functions, both built once. Safe for concurrent use.
type Compiled struct {
	name       string
	tlp        TLP
	include    []criterion
	exclude    []criterion
	transforms []transform
	release    time.Duration // outputs held to the end of their bucket; 0: not held
	threshold  Threshold
	version    string
}

// Threshold is the policy's k-sensor release threshold (zero: none).
func (c *Compiled) Threshold() Threshold { return c.threshold }

// Version identifies the policy's rules: the first 12 hex digits of the
// SHA-256 of its name and specification (not of its keys). A peer sees it
// in the Cofswitch-Policy-Version header, and only its own policies'.
func (c *Compiled) Version() string { return c.version }

// Release is how long outputs are held: the switch releases a record
// when the bucket of coarsen_time in which it handled it ends, so that the
// moment of delivery tells no more than the bucket. 0: at once.
func (c *Compiled) Release() time.Duration { return c.release }

// Name returns the policy's name.
func (c *Compiled) Name() string { return c.name }

// TLP returns the policy's default label.
func (c *Compiled) TLP() TLP { return c.tlp }

// Apply returns the record as this policy delivers it, or false when a
// filter withholds it. The filter path does not allocate; a policy with
// transforms returns a new record and leaves r untouched.
func (c *Compiled) Apply(r *cof.Record) (*cof.Record, bool) {
	if !c.keeps(r) {
		return nil, false
	}
	if len(c.transforms) == 0 {
		return r, true
	}
	return c.transform(new(Scratch), r), true
}

// ApplyTo is Apply building its output in s rather than in new memory:
// the output stays valid until the next ApplyTo with s.
func (c *Compiled) ApplyTo(s *Scratch, r *cof.Record) (*cof.Record, bool) {
	out, rule := c.Decide(s, r)
	return out, rule == Kept
}

// Decide is ApplyTo saying which rule withheld the record: the output and
// Kept, or nil and the rule of the first filter that withheld it (the one
// Explain names). The engine keeps a Scratch per worker, encodes each
// output before the next, and counts the rules; it does not allocate.
func (c *Compiled) Decide(s *Scratch, r *cof.Record) (*cof.Record, Rule) {
	if rule := c.decide(s, r); rule != Kept {
		return nil, rule
	}
	if len(c.transforms) == 0 {
		return r, Kept
	}
	return c.transform(s, r), Kept
}

// keeps runs the filters.
func (c *Compiled) keeps(r *cof.Record) bool { return c.decide(nil, r) == Kept }

// decide runs the filters and returns the rule of the first that
// withholds r, or Kept.
func (c *Compiled) decide(s *Scratch, r *cof.Record) Rule {
	for i := range c.include {
		if !c.include[i].matches(s, r) {
			return c.include[i].rule
		}
	}
	for i := range c.exclude {
		if c.exclude[i].matches(s, r) {
			return c.exclude[i].rule
		}
	}
	return Kept
}

// transform runs the transforms on a copy of r in s.
func (c *Compiled) transform(s *Scratch, r *cof.Record) *cof.Record {
	out := &s.rec
	*out = *r
	for _, t := range c.transforms {
		t.apply(out, s)
	}
	return out
}

// Explanation says what a policy did to one record.
type Explanation struct {
	Policy string
	Kept   bool
	Rule   string // the criterion that withheld it, "" when kept
	// Detail says what made Rule decide, where the criterion can tell:
	// "rdata name printer.corp in internal-zones (corp)".
	Detail     string
	Transforms []string // the transforms that changed the record, in order
	// Changes are what those transforms changed, field by field.
	Changes []Change
	Out     *cof.Record
}

// Explain applies the policy like Apply and says which rule decided.
func (c *Compiled) Explain(r *cof.Record) Explanation {
	e := Explanation{Policy: c.name}
	for _, cr := range c.include {
		if !cr.match(r) {
			e.Rule, e.Detail = cr.name, cr.detail(r)
			return e
		}
	}
	for _, cr := range c.exclude {
		if cr.match(r) {
			e.Rule, e.Detail = cr.name, cr.detail(r)
			return e
		}
	}
	e.Kept, e.Out = true, r
	if len(c.transforms) > 0 {
		out := *r
		for _, t := range c.transforms {
			before := out
			t.apply(&out, new(Scratch))
			if !before.Equal(&out) {
				e.Transforms = append(e.Transforms, t.name)
				e.Changes = append(e.Changes, changes(t.name, &before, &out)...)
			}
		}
		e.Out = &out
	}
	return e
}

// detail is the criterion's explanation of its decision, "" when it has
// none.
func (cr *criterion) detail(r *cof.Record) string {
	if cr.why == nil {
		return ""
	}
	return cr.why(r)
}

// Rules lists the criteria names, include first, for hit tables.
func (c *Compiled) Rules() []string {
	var out []string
	for _, cr := range c.include {
		out = append(out, cr.name)
	}
	for _, cr := range c.exclude {
		out = append(out, cr.name)
	}
	return out
}

// TransformNames lists the transforms in the order they run.
func (c *Compiled) TransformNames() []string {
	var out []string
	for _, t := range c.transforms {
		out = append(out, t.name)
	}
	return out
}

// Compile checks a policy and builds it. Errors are *Error values joined,
// each with its path below "policies.<name>.".
func Compile(name string, s *Spec, env Env) (*Compiled, error) {
	errs := &errList{prefix: "policies." + name + "."}
	if name == "" || name == PassName {
		errs.add("", "the name %q is reserved", name)
	}
	c := &Compiled{name: name}
	var err error
	if c.tlp, err = ParseTLP(s.TLP); err != nil {
		errs.add("tlp", "%v", err)
	}
	now := env.Now
	if now == nil {
		now = time.Now
	}
	c.include = compileFilter("include", s.Include, now, errs)
	c.exclude = compileFilter("exclude", s.Exclude, now, errs)
	c.transforms = compileTransforms(c, &s.Transforms, env, errs)
	c.threshold = compileThreshold(s.Threshold, errs)
	c.version = versionOf(name, s)
	c.exclude = append(c.exclude, embeddedWithholds(&s.Transforms)...)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// The transforms, in the order they run. Documented in the package README.
func compileTransforms(c *Compiled, t *TransformSpec, env Env, errs *errList) []transform {
	var out []transform
	if p := t.PseudonymiseSensor; p != nil {
		key := readKey(KeySpec{KeyFile: p.KeyFile, KeyEnv: p.KeyEnv}, env, "transforms.pseudonymise_sensor", 16, 0, errs)
		ps := &pseudonymizer{key: key, prefix: p.Prefix, length: p.Length}
		if ps.prefix == "" {
			ps.prefix = DefaultPseudonymPrefix
		}
		if ps.length == 0 {
			ps.length = DefaultPseudonymLength
		}
		if ps.length < 8 || ps.length > 64 {
			errs.add("transforms.pseudonymise_sensor.length", "%d hex digits: want 8..64", ps.length)
		}
		out = append(out, transform{"pseudonymise_sensor", ps.apply})
	}
	out = append(out, compileAddressTransforms(t, env, errs)...)
	if k := t.HashLabels; k != nil {
		key := readKey(*k, env, "transforms.hash_labels", 16, 0, errs)
		h := &labelHasher{key: key, cache: newStringCache(labelCacheSize), names: newStringCache(nameCacheSize)}
		out = append(out, transform{"hash_labels", h.apply})
	}
	if tr, hold, ok := compileCoarsen(t, errs); ok {
		out = append(out, tr)
		c.release = hold
	}
	if len(t.BucketCount) > 0 {
		b := t.BucketCount
		if !slices.IsSorted(b) || b[0] <= 0 || len(slices.Compact(slices.Clone(b))) != len(b) {
			errs.add("transforms.bucket_count", "boundaries must be positive and strictly increasing")
		}
		out = append(out, transform{"bucket_count", bucketCount(slices.Clone(b))})
	}
	if len(t.DropFields) > 0 {
		for i, f := range t.DropFields {
			if isMandatory(f) {
				errs.add("transforms.drop_fields["+strconv.Itoa(i)+"]", "%s is mandatory and cannot be dropped", f)
			}
		}
		out = append(out, transform{"drop_fields", dropFields(slices.Clone(t.DropFields))})
	}
	if t.KeepFields != nil {
		out = append(out, transform{"keep_fields", keepFields(slices.Clone(*t.KeepFields))})
	}
	if len(t.SetFields) > 0 {
		vals := map[string]string{}
		for k, v := range t.SetFields {
			switch {
			case isMandatory(k) || isNumeric(k):
				errs.add("transforms.set_fields."+k, "only string fields can be set (origin, sensor_id, bailiwick or an additional field)")
			case k == cof.KeyBailiwick:
				z, err := canonicalZone(v)
				if err != nil {
					errs.add("transforms.set_fields.bailiwick", "%v", err)
				}
				v = z
			case v == "":
				errs.add("transforms.set_fields."+k, "empty value (use drop_fields to remove a field)")
			}
			vals[k] = v
		}
		out = append(out, transform{"set_fields", setFields(vals)})
	}
	return out
}

// compileAddressTransforms builds truncate_ip or cryptopan.
func compileAddressTransforms(t *TransformSpec, env Env, errs *errList) []transform {
	var out []transform
	if t.TruncateIP != nil && t.CryptoPAn != nil {
		errs.add("transforms", "truncate_ip and cryptopan exclude each other")
	}
	if tr := t.TruncateIP; tr != nil {
		if tr.IPv4 < 0 || tr.IPv4 > 32 {
			errs.add("transforms.truncate_ip.ipv4", "%d is not in 0..32", tr.IPv4)
		}
		if tr.IPv6 < 0 || tr.IPv6 > 128 {
			errs.add("transforms.truncate_ip.ipv6", "%d is not in 0..128", tr.IPv6)
		}
		if tr.IPv4 == 0 && tr.IPv6 == 0 {
			errs.add("transforms.truncate_ip", "give ipv4 and/or ipv6 prefix lengths (e.g. 24 and 48)")
		}
		v4, v6 := tr.IPv4, tr.IPv6
		if v4 == 0 {
			v4 = 32
		}
		if v6 == 0 {
			v6 = 128
		}
		out = append(out, transform{"truncate_ip", addrMapper{mapAddr: embeddedTruncator(v4, v6)}.apply})
	}
	if k := t.CryptoPAn; k != nil {
		key := readKey(*k, env, "transforms.cryptopan", 32, 32, errs)
		if len(key) == 32 {
			cp, _ := NewCryptoPAn(key, cryptoPAnCacheSize)
			out = append(out, transform{"cryptopan", addrMapper{mapAddr: withEmbedded(cp.Anonymize)}.apply})
		}
	}
	return out
}

func isNumeric(name string) bool {
	switch name {
	case cof.KeyCount, cof.KeyZoneTimeFirst, cof.KeyZoneTimeLast, cof.KeyTimeFirstMS, cof.KeyTimeLastMS:
		return true
	}
	return false
}

// readKey reads a hex key from a file or an environment variable. The
// key's value never appears in an error.
func readKey(k KeySpec, env Env, path string, minLen, exactLen int, errs *errList) []byte {
	var raw string
	switch {
	case k.KeyFile != "" && k.KeyEnv != "":
		errs.add(path, "give key_file or key_env, not both")
		return nil
	case k.KeyFile != "":
		data, err := env.ReadFile(k.KeyFile)
		if err != nil {
			errs.add(path+".key_file", "%v", err)
			return nil
		}
		raw = string(data)
	case k.KeyEnv != "":
		raw = env.Getenv(k.KeyEnv)
		if raw == "" {
			errs.add(path+".key_env", "environment variable %s is empty or unset", k.KeyEnv)
			return nil
		}
	default:
		errs.add(path, "needs a key: key_file or key_env")
		return nil
	}
	key, err := hex.DecodeString(strings.TrimSpace(raw))
	switch {
	case err != nil:
		errs.add(path, "the key is not hexadecimal (generate one with: openssl rand -hex %d)", max(minLen, exactLen))
		return nil
	case exactLen > 0 && len(key) != exactLen:
		errs.add(path, "the key has %d bytes, want exactly %d (%d hex digits)", len(key), exactLen, 2*exactLen)
		return nil
	case len(key) < minLen:
		errs.add(path, "the key has %d bytes, want at least %d", len(key), minLen)
		return nil
	}
	return key
}
