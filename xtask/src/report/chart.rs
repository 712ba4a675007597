//! The chart: per engine, a Sync and a NoSync bar per batch size and a checkpoint bar, on
//! a log axis, with the native baseline marked on each bar and the floors as dashed lines.

use std::error::Error;

use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Context, FDATASYNC, Mode, Results, WRITE, decade_label, duration};

/// A Sync apply's bar.
const SYNC_BAR: RGBColor = RGBColor(0x1f, 0x4e, 0x9a);
/// A NoSync apply's bar.
const NOSYNC_BAR: RGBColor = RGBColor(0x86, 0xb8, 0xe8);
/// A checkpoint's bar.
const CHECKPOINT_BAR: RGBColor = RGBColor(0xe0, 0x8a, 0x2c);
/// The 4 KiB append + `fdatasync` floor's line.
const FDATASYNC_LINE: RGBColor = RGBColor(0xc0, 0x39, 0x2b);
/// The 4 KiB append floor's line.
const WRITE_LINE: RGBColor = RGBColor(0x6b, 0x76, 0x80);
/// The subtitle and the note under the plot.
const GREY: RGBColor = RGBColor(0x44, 0x44, 0x44);

/// Pixels per bar slot on the x axis; a bar fills 90% of its slot.
const SLOT: f64 = 19.0;
/// Pixels left of the plot, for the y labels.
const LEFT: u32 = 110;
/// Pixels above the plot, for the title.
const TOP: u32 = 64;
/// Pixels below the plot, for the x labels.
const BOTTOM: u32 = 80;
/// The plot's height in pixels.
const HEIGHT: u32 = 380;
/// Pixels right of the bars for the legend, inside the plot: a legend outside it is clipped.
const LEGEND: u32 = 310;
/// The share of the plot's height kept free above the tallest bar for its label.
const LABEL_ROOM: f64 = 0.08;

/// The SVG chart.
pub fn svg(results: &Results, context: &Context) -> Result<String, String> {
    let mut svg = String::new();
    draw(results, context, &mut svg).map_err(|error| format!("cannot draw the chart: {error}"))?;
    Ok(svg)
}

/// A sans-serif font anchored at `h`, `v` of the point it is drawn at.
fn font(size: f64, style: FontStyle, h: HPos, v: VPos) -> TextStyle<'static> {
    TextStyle::from(("sans-serif", size, style).into_font()).pos(Pos::new(h, v))
}

/// The y range: whole decades around every value, with room above the tallest bar.
fn y_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let values: Vec<f64> = values.filter(|ns| ns.is_finite() && *ns > 0.0).collect();
    let low = values.iter().copied().fold(f64::INFINITY, f64::min);
    let tallest = values.iter().copied().fold(0.0, f64::max);
    let (low, tallest) = if values.is_empty() {
        (1e3, 1e6)
    } else {
        (low, tallest)
    };
    let low = 10f64.powf(low.log10().floor());
    let mut high = 10f64.powf(tallest.log10().ceil()).max(low * 100.0);
    while (high / tallest).log10() / (high / low).log10() < LABEL_ROOM {
        high *= 10.0;
    }
    (low, high)
}

/// Draws the chart into `svg`.
fn draw(results: &Results, context: &Context, svg: &mut String) -> Result<(), Box<dyn Error>> {
    let (engines, sizes) = (results.engines(), results.batch_sizes());
    // Per engine, in slots: a pad, a pair per batch size (half a slot apart), half a slot,
    // the checkpoint and a pad.
    let group = 2.5 * sizes.len() as f64 + 3.5;
    let slots = (engines.len() as f64 * group).max(600.0 / SLOT);
    let width = LEFT + (slots * SLOT) as u32 + LEGEND;
    let (low, high) = y_range(results.timed().map(|estimate| estimate.median_ns));

    let root = SVGBackend::with_string(svg, (width, TOP + HEIGHT + BOTTOM)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = "fsmstore: median latency of one apply, by engine, sync mode and batch size";
    let title_font = font(21.0, FontStyle::Bold, HPos::Left, VPos::Top);
    root.draw(&Text::new(title, (LEFT as i32, 10), title_font))?;
    let subtitle = ". Log scale. Absolute numbers vary by disk; compare ratios within one run.";
    let subtitle = context.measured.clone() + subtitle;
    let subtitle_font = font(15.0, FontStyle::Normal, HPos::Left, VPos::Top).color(&GREY);
    root.draw(&Text::new(subtitle, (LEFT as i32, 36), subtitle_font))?;

    let x_range = 0.0..slots + f64::from(LEGEND - 10) / SLOT;
    let mut chart = ChartBuilder::on(&root)
        .margin_top(TOP)
        .margin_right(10)
        .y_label_area_size(LEFT - 10)
        .x_label_area_size(BOTTOM)
        .build_cartesian_2d(x_range, (low..high).log_scale())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_labels(((high / low).log10().round() + 1.0) as usize)
        .y_label_formatter(&|ns| decade_label(*ns))
        .y_label_style(("sans-serif", 15))
        .y_desc("median latency per apply or checkpoint (log scale)")
        .axis_desc_style(("sans-serif", 15))
        .bold_line_style(RGBColor(0xcf, 0xcf, 0xcf))
        .light_line_style(RGBColor(0xf0, 0xf0, 0xf0))
        .draw()?;

    // Bars as (left edge in slots, median, colour, where the label starts: the bar's top or
    // the native marker over it), native markers as (left edge, median), and the labels
    // under the axis as (centre, text, pixels below the axis, font).
    let (mut bars, mut markers, mut labels) = (Vec::new(), Vec::new(), Vec::new());
    let small = font(14.0, FontStyle::Normal, HPos::Center, VPos::Top);
    for (position, engine) in engines.iter().enumerate() {
        let start = position as f64 * group;
        for (index, ops) in sizes.iter().enumerate() {
            let pair = start + 1.0 + 2.5 * index as f64;
            let modes = [
                (pair, Mode::SYNC, SYNC_BAR),
                (pair + 1.0, Mode::NOSYNC, NOSYNC_BAR),
            ];
            for (left, mode, colour) in modes {
                let native = results.native(engine, mode, *ops).map(|e| e.median_ns);
                markers.extend(native.map(|native| (left, native)));
                if let Some(ns) = results.apply(engine, mode, *ops).map(|e| e.median_ns) {
                    bars.push((left, ns, colour, native.unwrap_or(ns).max(ns)));
                }
            }
            labels.push((pair + 1.0, ops.to_string(), 6, small.clone()));
        }
        let checkpoint = start + 1.0 + 2.5 * sizes.len() as f64 + 0.5;
        if let Some(ns) = results.checkpoint(engine).map(|e| e.median_ns) {
            bars.push((checkpoint, ns, CHECKPOINT_BAR, ns));
        }
        labels.push((checkpoint + 0.5, "ckpt".to_owned(), 6, small.clone()));
        let name = font(17.0, FontStyle::Bold, HPos::Center, VPos::Top);
        labels.push((start + group / 2.0, engine.to_string(), 24, name));
    }

    for (colour, label) in [
        (SYNC_BAR, "Sync apply"),
        (NOSYNC_BAR, "NoSync apply"),
        (CHECKPOINT_BAR, "checkpoint after 1000 NoSync applies"),
    ] {
        let bars = bars.iter().filter(|bar| bar.2 == colour);
        let bars = bars.map(|&(left, ns, ..)| {
            Rectangle::new([(left, low), (left + 0.9, ns)], colour.filled())
        });
        let swatch = move |(x, y)| Rectangle::new([(x, y - 6), (x + 12, y + 6)], colour.filled());
        chart.draw_series(bars)?.label(label).legend(swatch);
    }
    let marker =
        |&(left, ns)| PathElement::new([(left - 0.1, ns), (left + 1.0, ns)], BLACK.stroke_width(3));
    let swatch = |(x, y)| PathElement::new([(x, y), (x + 12, y)], BLACK.stroke_width(3));
    let native = "native engine API, same writes";
    chart
        .draw_series(markers.iter().map(marker))?
        .label(native)
        .legend(swatch);
    for (id, colour, label) in [
        (FDATASYNC, FDATASYNC_LINE, "4 KiB append + fdatasync"),
        (WRITE, WRITE_LINE, "4 KiB append, no sync"),
    ] {
        let floor = results.get(id).map(|estimate| estimate.median_ns);
        let style = colour.stroke_width(2);
        let line = floor.map(|ns| DashedPathElement::new([(0.0, ns), (slots, ns)], 6, 4, style));
        let swatch = move |(x, y)| DashedPathElement::new([(x, y), (x + 14, y)], 4, 2, style);
        let label = format!("floor: {label}, {}", floor.map_or("—".to_owned(), duration));
        chart.draw_series(line)?.label(label).legend(swatch);
    }

    // Each bar's median, written upwards from its top or from the marker over it.
    let upwards =
        font(12.0, FontStyle::Normal, HPos::Left, VPos::Center).transform(FontTransform::Rotate270);
    chart.draw_series(bars.iter().map(|&(left, ns, _, label_at)| {
        EmptyElement::at((left + 0.45, label_at))
            + Text::new(duration(ns), (0, -4), upwards.clone())
    }))?;
    let note = "numbers under the bars: puts per batch (16-byte keys, 128-byte values); one apply = one batch = one commit";
    labels.push((slots / 2.0, note.to_owned(), 56, small.color(&GREY)));
    chart.draw_series(labels.into_iter().map(|(x, text, below, font)| {
        EmptyElement::at((x, low)) + Text::new(text, (0, below), font)
    }))?;

    let legend_left = (slots * SLOT) as i32 + 16;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::Coordinate(legend_left, 0))
        .label_font(("sans-serif", 15))
        .background_style(WHITE)
        .border_style(RGBColor(0xcf, 0xcf, 0xcf))
        .draw()?;
    root.present()?;
    Ok(())
}
