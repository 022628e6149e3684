package db

import (
	"context"
	"fmt"
	"strings"

	"github.com/cofswitch/cofswitch/cof"
)

// pgQuery is a lookup being built: the rows it reads (from), their order,
// its conditions and their arguments.
type pgQuery struct {
	from, order string
	where       []string
	args        []any
}

// arg adds an argument and returns its placeholder.
func (b *pgQuery) arg(v any) string {
	b.args = append(b.args, v)
	return fmt.Sprintf("$%d", len(b.args))
}

// Lookup answers a query with one SELECT over the matching index.
func (p *PGStore) Lookup(ctx context.Context, q Query) ([]*RRset, error) {
	b := &pgQuery{from: "rrset", order: "rrkey"}
	var err error
	switch {
	case q.Name != "":
		err = b.name(q.Name)
	case q.RData != "":
		err = b.rdata(q.RData)
	case q.IPFrom.IsValid() && q.IPTo.IsValid():
		b.where = append(b.where, "rrkey IN (SELECT rrset FROM rrset_ip WHERE ip BETWEEN "+
			b.arg(q.IPFrom.String())+"::inet AND "+b.arg(q.IPTo.String())+"::inet)")
	default:
		err = fmt.Errorf("%w: give a name, an rdata value or an address range", ErrBadQuery)
	}
	if err != nil {
		return nil, err
	}
	b.filters(&q)
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	sql := `SELECT rrname, rrtype, rdata, time_first, time_last, has_zone, zone_time_first, zone_time_last, count, bailiwick, sensors
		FROM ` + b.from
	if len(b.where) > 0 {
		sql += ` WHERE ` + strings.Join(b.where, " AND ")
	}
	sql += ` ORDER BY ` + b.order + ` LIMIT ` + b.arg(limit) + ` OFFSET ` + b.arg(q.Offset)
	rows, err := p.pool.Query(ctx, sql, b.args...)
	if err != nil {
		return nil, fmt.Errorf("pdnsdb: postgres: lookup: %w", err)
	}
	defer rows.Close()
	var out []*RRset
	for rows.Next() {
		s := &RRset{}
		var t int
		if err := rows.Scan(&s.RRName, &t, &s.RData, &s.TimeFirst, &s.TimeLast, &s.HasZoneTimes, &s.ZoneTimeFirst,
			&s.ZoneTimeLast, &s.Count, &s.Bailiwick, &s.Sensors); err != nil {
			return nil, fmt.Errorf("pdnsdb: postgres: lookup: %w", err)
		}
		s.RRType = cof.Type(t)
		if len(s.Sensors) == 0 {
			s.Sensors = nil
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pdnsdb: postgres: lookup: %w", err)
	}
	return out, nil
}

// name selects by owner name (see ParseNameQuery).
func (b *pgQuery) name(v string) error {
	kind, lit, ok := ParseNameQuery(v)
	if !ok {
		return fmt.Errorf("%w: %q is no DNS name", ErrBadQuery, v)
	}
	switch kind {
	case 'L':
		b.where = append(b.where, "rev LIKE "+b.arg(likePrefix(reverseName(lit)+".")))
	case 'R':
		b.where = append(b.where, "rrname LIKE "+b.arg(likePrefix(lit+".")))
	default:
		b.where = append(b.where, "rrname = "+b.arg(lit))
	}
	return nil
}

// rdata selects by rdata (see ParseRDataQuery): an address in rrset_ip;
// else the names in rrset_rname that match, then the values in
// rrset_rdata equal to the query. An rrset that both give, or that
// several of its names give, comes once, in the first place it has; the
// answer is ordered by that place, then by key, so that pages of it add
// up to the whole.
func (b *pgQuery) rdata(v string) error {
	rq := ParseRDataQuery(v)
	if rq.Addr.IsValid() {
		b.where = append(b.where, "rrkey IN (SELECT rrset FROM rrset_ip WHERE ip = "+b.arg(rq.Addr.String())+"::inet)")
		return nil
	}
	var parts []string
	if rq.Name != "" {
		var cond string
		switch rq.NameKind {
		case 'L':
			cond = "rev LIKE " + b.arg(likePrefix(reverseName(rq.Name)+"."))
		case 'R':
			cond = "name LIKE " + b.arg(likePrefix(rq.Name+"."))
		default:
			cond = "name = " + b.arg(rq.Name)
		}
		parts = append(parts, "SELECT rrset, 0 AS place FROM rrset_rname WHERE "+cond)
	}
	if rq.Value != "" {
		parts = append(parts, "SELECT rrset, 1 AS place FROM rrset_rdata WHERE value = "+b.arg(rq.Value))
	}
	if len(parts) == 0 {
		return fmt.Errorf("%w: %q is a wildcard on no DNS name", ErrBadQuery, v)
	}
	b.from = "(SELECT rrset AS m_key, min(place) AS m_place FROM (" + strings.Join(parts, " UNION ALL ") +
		") AS u GROUP BY rrset) AS m JOIN rrset ON rrkey = m_key"
	b.order = "m_place, rrkey"
	return nil
}

// filters adds the conditions on type, bailiwick and times.
func (b *pgQuery) filters(q *Query) {
	if q.Type != 0 {
		b.where = append(b.where, "rrtype = "+b.arg(int(q.Type)))
	}
	if q.Bailiwick != "" {
		b.where = append(b.where, "bailiwick = "+b.arg(q.Bailiwick))
	}
	for _, f := range []struct {
		v    int64
		cond string
	}{
		{v: q.TimeFirstBefore, cond: "time_first <"}, {v: q.TimeFirstAfter, cond: "time_first >"},
		{v: q.TimeLastBefore, cond: "time_last <"}, {v: q.TimeLastAfter, cond: "time_last >"},
	} {
		if f.v != 0 {
			b.where = append(b.where, f.cond+" "+b.arg(f.v))
		}
	}
}
