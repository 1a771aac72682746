package main

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// plotLatency draws to-key p50 and p99 latency against throughput: one line per
// shape and workload through its concurrencies, p50 solid, p99 dashed.
func plotLatency(path string, rows []row) error {
	p := plot.New()
	p.Title.Text = "keysmith: latency against throughput (closed loop, c = 1, 8, 32, 64)"
	p.X.Label.Text = "answered per second (log scale)"
	p.Y.Label.Text = "latency, ms (log scale)"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	// Top right, moved left into the gap between orders and repeats.
	p.Legend.Top = true
	p.Legend.XOffs = -3 * vg.Inch
	p.Add(plotter.NewGrid())

	type series struct{ shape, workload string }
	var order []series
	points := map[series][]row{}
	for _, r := range rows {
		if r.Rate > 0 || r.Workload == "keysmith mix (half repeats)" {
			continue
		}
		s := series{r.Shape, r.Workload}
		if _, ok := points[s]; !ok {
			order = append(order, s)
		}
		points[s] = append(points[s], r)
	}
	palette := []color.Color{
		color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}, color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
		color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff}, color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
	}
	workloads := map[string]int{}
	for _, s := range order {
		if _, ok := workloads[s.workload]; !ok {
			workloads[s.workload] = len(workloads)
		}
	}
	shapes := map[string]draw.GlyphDrawer{"dev": draw.CircleGlyph{}, "cluster": draw.SquareGlyph{}}
	for _, s := range order {
		col := palette[workloads[s.workload]%len(palette)]
		for _, q := range []struct {
			name string
			get  func(row) float64
			dash bool
		}{{"p50", func(r row) float64 { return r.P50 }, false}, {"p99", func(r row) float64 { return r.P99 }, true}} {
			xy := make(plotter.XYs, 0, len(points[s]))
			for _, r := range points[s] {
				if y := q.get(r); y > 0 {
					xy = append(xy, plotter.XY{X: r.PerSecond, Y: y})
				}
			}
			if len(xy) == 0 {
				continue
			}
			l, sc, err := plotter.NewLinePoints(xy)
			if err != nil {
				return err
			}
			l.Color, sc.Color = col, col
			sc.Shape = shapes[s.shape]
			if q.dash {
				l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			}
			p.Add(l, sc)
			p.Legend.Add(fmt.Sprintf("%s: %s %s", s.shape, s.workload, q.name), l, sc)
		}
	}
	return p.Save(11*vg.Inch, 7*vg.Inch, path)
}
