package policy

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestDescribe: what a peer learns under a policy, in words, and the
// flags behind the warnings.
func TestDescribe(t *testing.T) {
	tests := []struct {
		name string
		spec string // YAML of a Spec; "" for pass
		want Privacy
	}{
		{"pass", "", Privacy{Fields: "all", Times: "exact", Addresses: "full", Names: "clear", Sensors: "clear",
			ExactTimes: true, FullAddresses: true, ClearSensors: true}},
		{"strict", `
exclude: {zones: [internal-zones], rdata_cidrs: [special-purpose]}
transforms:
  pseudonymise_sensor: {key_env: K}
  truncate_ip: {ipv4: 24, ipv6: 48}
  coarsen_time: 1h
  drop_fields: [origin]
  keep_fields: []`,
			Privacy{Fields: "the draft's only, without origin", Times: "coarsened to 1h, delivered merged when the bucket ends",
				Addresses: "truncated to /24 (IPv4) and /48 (IPv6); records whose names or text embed a finer address are withheld; filtered by exclude.rdata_cidrs special-purpose",
				Names:     "clear; filtered by exclude.zones internal-zones (every name: owner, rdata, bailiwick)", Sensors: "pseudonymised"}},
		{"coarsened but delivered at once, owner-only zones, embedded filter", `
exclude: {owner_zones: [corp], embedded_cidrs: [special-purpose]}
transforms:
  coarsen_time: 1h
  release: immediate`,
			Privacy{Fields: "all", Times: "coarsened to 1h in the body, but delivered at once (release: immediate): the moment of delivery tells the time",
				Addresses: "full; filtered by exclude.embedded_cidrs special-purpose", Names: "clear; filtered by exclude.owner_zones corp", Sensors: "clear",
				FullAddresses: true, ClearSensors: true, TimedDelivery: true}},
		{"research", `
include: {zones: [example.com], regex: ['^www\.']}
transforms:
  cryptopan: {key_env: K}
  hash_labels: {key_env: K}
  coarsen_time: 1d
  keep_fields: [seen_by]`,
			Privacy{Fields: "the draft's and seen_by", Times: "coarsened to 1d, delivered merged when the bucket ends",
				Addresses: "Crypto-PAn (prefix-preserving pseudonyms); records whose names or text embed a finer address are withheld",
				Names:     `hashed below the registered domain, with their parent, in owner, rdata and bailiwick; filtered by include.zones example.com (every name: owner, rdata, bailiwick); include.regex ^www\.`, Sensors: "clear", ClearSensors: true}},
		{"IPv4 truncated only, a second's precision, sensor dropped", `
transforms:
  truncate_ip: {ipv4: 16}
  coarsen_time: 1s
  drop_fields: [sensor_id]`,
			Privacy{Fields: "all, without sensor_id", Times: "exact", Addresses: "truncated to /16 (IPv4) and IPv6 full", Names: "clear", Sensors: "dropped",
				ExactTimes: true, FullAddresses: true}},
		{"sensor set", `
transforms:
  pseudonymise_sensor: {key_env: K}
  set_fields: {sensor_id: partner, origin: x}`,
			Privacy{Fields: "all; set: origin, sensor_id", Times: "exact", Addresses: "full", Names: "clear", Sensors: `set to "partner"`,
				ExactTimes: true, FullAddresses: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var spec *Spec
			if tt.spec != "" {
				spec = new(Spec)
				if err := yaml.Unmarshal([]byte(tt.spec), spec); err != nil {
					t.Fatal(err)
				}
			}
			if got := Describe(spec); got != tt.want {
				t.Errorf("Describe\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}
