package policy

// Spec is one policy as written in the configuration file, under
// policies.<name>. A record is delivered when it matches every criterion
// under include and none under exclude; the transforms then run in the
// order given in the package documentation.
type Spec struct {
	Include    *FilterSpec   `yaml:"include"`
	Exclude    *FilterSpec   `yaml:"exclude"`
	Transforms TransformSpec `yaml:"transforms"`
	// TLP is the default TLP 2.0 label of the subscriptions using this
	// policy (CLEAR, GREEN, AMBER, AMBER+STRICT, RED).
	TLP string `yaml:"tlp"`
	// Threshold holds each rrset back until enough distinct sensors (and
	// organisations) have seen it.
	Threshold *ThresholdSpec `yaml:"threshold"`
}

// FilterSpec lists criteria. Each criterion holds for a record when any
// entry of its list matches; under include every criterion given must
// hold, under exclude any one suffices.
type FilterSpec struct {
	// Sensors are sensor_id patterns ('*' matches any run).
	Sensors []string `yaml:"sensors"`
	// RRTypes are mnemonics or TYPEnnn.
	RRTypes []string `yaml:"rrtypes"`
	// Zones match the record's domain names at or below a zone, on label
	// boundaries: the owner (rrname), the names in rdata (CNAME, DNAME,
	// NS, PTR, MX, SRV, SOA, SVCB/HTTPS, NAPTR, ...) and, under exclude,
	// the bailiwick. Under exclude one name in a zone withholds the
	// record; under include every name but the bailiwick must be in one.
	// Rdata of such a type that does not parse counts as in a zone under
	// exclude and as outside under include. The name internal-zones
	// stands for the built-in set.
	Zones []string `yaml:"zones"`
	// OwnerZones match rrname only, at or below a zone: the zones filter
	// as it was before it read rdata, for a policy that wants, say, every
	// record of its own domains whatever they point to.
	OwnerZones []string `yaml:"owner_zones"`
	// Regex are RE2 expressions matched against rrname.
	Regex []string `yaml:"regex"`
	// RDataCIDRs match A and AAAA data, and the address a PTR owner name
	// (in-addr.arpa, ip6.arpa) stands for; an IPv4 CIDR also matches the
	// IPv6 addresses carrying an IPv4 address in it (6to4, NAT64, Teredo,
	// mapped). The name special-purpose stands for the built-in set.
	RDataCIDRs []string `yaml:"rdata_cidrs"`
	// EmbeddedCIDRs match addresses written into the owner name, the
	// bailiwick, the names in rdata (10.1.2.3.nip.io,
	// host-192-168-1-5.example.com, ip-0a010203.example.net) and rdata
	// text (TXT "ip4:10.0.0.0/8"). Same entries as RDataCIDRs.
	EmbeddedCIDRs []string `yaml:"embedded_cidrs"`
	// BailiwickZones match bailiwick at or below a zone.
	BailiwickZones []string `yaml:"bailiwick_zones"`
	// MinCount and MaxCount bound count; a record without count counts 1.
	MinCount *int64 `yaml:"min_count"`
	MaxCount *int64 `yaml:"max_count"`
	// MaxAge holds when time_last is at most this long ago ("30d", "12h").
	MaxAge string `yaml:"max_age"`
	// HasFields holds when every listed field is present (optional and
	// additional fields by name).
	HasFields []string `yaml:"has_fields"`
}

// TransformSpec lists the transforms of a policy. Unset ones do not run.
type TransformSpec struct {
	PseudonymiseSensor *PseudonymSpec `yaml:"pseudonymise_sensor"`
	TruncateIP         *TruncateSpec  `yaml:"truncate_ip"`
	CryptoPAn          *KeySpec       `yaml:"cryptopan"`
	HashLabels         *KeySpec       `yaml:"hash_labels"`
	CoarsenTime        string         `yaml:"coarsen_time"`
	// Release says when records coarsened by CoarsenTime are delivered:
	// bucket_end (the default: held until the bucket in which the switch
	// handled them ends) or immediate (the delivery moment tells the time).
	Release     string   `yaml:"release"`
	BucketCount []int64  `yaml:"bucket_count"`
	DropFields  []string `yaml:"drop_fields"`
	// KeepFields, when set (even empty), keeps only the draft's fields and
	// the additional fields it lists: every other additional field
	// (client_ip, sensor_hostname, nested objects) is dropped.
	KeepFields *[]string         `yaml:"keep_fields"`
	SetFields  map[string]string `yaml:"set_fields"`
}

// KeySpec names where a secret key is read from: a file or an environment
// variable holding it as hexadecimal. Keys are read at every (re)load, so
// replacing the file and reloading rotates them; they are never logged.
type KeySpec struct {
	KeyFile string `yaml:"key_file"`
	KeyEnv  string `yaml:"key_env"`
}

// PseudonymSpec configures the keyed pseudonym of sensor_id:
// Prefix + the first Length hex digits of HMAC-SHA256(key, sensor_id).
type PseudonymSpec struct {
	KeyFile string `yaml:"key_file"`
	KeyEnv  string `yaml:"key_env"`
	Prefix  string `yaml:"prefix"` // default "pseudo-"
	Length  int    `yaml:"length"` // hex digits, default 16
}

// TruncateSpec keeps the first IPv4 and IPv6 prefix bits of addresses.
type TruncateSpec struct {
	IPv4 int `yaml:"ipv4"`
	IPv6 int `yaml:"ipv6"`
}
