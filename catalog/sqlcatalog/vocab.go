package sqlcatalog

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/bottega-shop/bottega/catalog"
)

// Synonyms returns every synonym, ordered by term.
func (s *Store) Synonyms(ctx context.Context) ([]catalog.Synonym, error) {
	rows, err := s.db.R.QueryContext(ctx, s.sql.synonyms)
	if err != nil {
		return nil, s.wrap("synonyms", err)
	}
	defer rows.Close()
	var out []catalog.Synonym
	for rows.Next() {
		var (
			syn  catalog.Synonym
			alts string
		)
		if err := rows.Scan(&syn.Term, &alts); err != nil {
			return nil, s.wrap("synonyms", err)
		}
		if err := json.Unmarshal([]byte(alts), &syn.Alternatives); err != nil {
			return nil, fmt.Errorf("sqlcatalog: synonym %q: %w", syn.Term, err)
		}
		out = append(out, syn)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("synonyms", err)
	}
	return out, nil
}

// PutSynonym creates or replaces the synonym for syn.Term. A
// *catalog.ValidationError if it is not valid.
func (s *Store) PutSynonym(ctx context.Context, syn catalog.Synonym) error {
	if err := syn.Validate(); err != nil {
		return err
	}
	_, err := s.db.W.ExecContext(ctx, s.sql.putSynonym, syn.Term, jsonText(syn.Alternatives))
	return s.wrap(fmt.Sprintf("put synonym %q", syn.Term), err)
}

// DeleteSynonym removes a synonym. ErrNotFound if unknown.
func (s *Store) DeleteSynonym(ctx context.Context, term string) error {
	return s.deleteOne(ctx, s.sql.deleteSynonym, "synonym", term)
}

// sizeChartBody is how a size chart is stored, apart from its name.
type sizeChartBody struct {
	Kind    string     `json:"kind"`
	Systems []string   `json:"systems"`
	Rows    [][]string `json:"rows"`
}

// SizeCharts returns every size chart, ordered by name.
func (s *Store) SizeCharts(ctx context.Context) ([]catalog.SizeChart, error) {
	rows, err := s.db.R.QueryContext(ctx, s.sql.sizeCharts)
	if err != nil {
		return nil, s.wrap("size charts", err)
	}
	defer rows.Close()
	var out []catalog.SizeChart
	for rows.Next() {
		var (
			name, body string
			b          sizeChartBody
		)
		if err := rows.Scan(&name, &body); err != nil {
			return nil, s.wrap("size charts", err)
		}
		if err := json.Unmarshal([]byte(body), &b); err != nil {
			return nil, fmt.Errorf("sqlcatalog: size chart %q: %w", name, err)
		}
		out = append(out, catalog.SizeChart{Name: name, Kind: b.Kind, Systems: b.Systems, Rows: b.Rows})
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("size charts", err)
	}
	return out, nil
}

// PutSizeChart creates or replaces the chart named c.Name. A
// *catalog.ValidationError if it is not valid.
func (s *Store) PutSizeChart(ctx context.Context, c catalog.SizeChart) error {
	if err := c.Validate(); err != nil {
		return err
	}
	body := jsonText(sizeChartBody{Kind: c.Kind, Systems: c.Systems, Rows: c.Rows})
	_, err := s.db.W.ExecContext(ctx, s.sql.putSizeChart, c.Name, body)
	return s.wrap(fmt.Sprintf("put size chart %q", c.Name), err)
}

// DeleteSizeChart removes a chart. ErrNotFound if unknown.
func (s *Store) DeleteSizeChart(ctx context.Context, name string) error {
	return s.deleteOne(ctx, s.sql.deleteChart, "size chart", name)
}

func (s *Store) deleteOne(ctx context.Context, query, what, key string) error {
	res, err := s.db.W.ExecContext(ctx, query, key)
	if err != nil {
		return s.wrap(fmt.Sprintf("delete %s %q", what, key), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.wrap(fmt.Sprintf("delete %s %q", what, key), err)
	}
	if n == 0 {
		return fmt.Errorf("sqlcatalog: delete %s %q: %w", what, key, catalog.ErrNotFound)
	}
	return nil
}
