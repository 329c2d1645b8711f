//! PNG figures with plotters: the confusion-matrix heat map of `eval gtzan --plot`, the
//! training curves of `finetune --curve` and the genre timeline of `classify --timeline --plot`. Text is drawn with an embedded DejaVu Sans Mono
//! (Bitstream Vera licence, `cli/assets/LICENSE-DejaVu.txt`), so no system fonts are needed.

use std::path::Path;
use std::sync::Once;

use anyhow::{anyhow, Result};
use mgr_core::aggregate::SongScores;
use mgr_core::eval::metrics::Confusion;
use mgr_core::timeline::{self, Segment, TimelineSettings, Window};
use mgr_core::train::top::EpochReport;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontStyle;

const FONT: &[u8] = include_bytes!("../assets/DejaVuSansMono.ttf");
const FAMILY: &str = "sans-serif";

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is compiled in and known to parse; a failure only loses the text.
        let _ = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT);
    });
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing the plot failed: {e:?}")
}

/// White → dark blue by the row-normalised share (recall per true class).
fn cell_colour(share: f64) -> RGBColor {
    let s = share.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * s).round() as u8;
    RGBColor(lerp(255.0, 8.0), lerp(255.0, 48.0), lerp(255.0, 107.0))
}

/// Confusion-matrix heat map: rows = true genre, columns = predicted, each cell the count,
/// shaded by the share of its row.
pub fn confusion_png(path: &Path, m: &Confusion, title: &str) -> Result<()> {
    register_font();
    let n = m.labels.len().max(1);
    let cell = 56u32;
    let (left, top) = (130u32, 70u32);
    let (w, h) = (left + cell * n as u32 + 30, top + cell * n as u32 + 70);
    let root = BitMapBackend::new(path, (w, h)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let text = |s: &str, size: f64, x: i32, y: i32, colour: &RGBColor, pos: Pos| {
        root.draw(&Text::new(
            s.to_string(),
            (x, y),
            (FAMILY, size).into_font().color(colour).pos(pos),
        ))
        .map_err(err)
    };
    let centre = Pos::new(HPos::Center, VPos::Center);
    text(title, 18.0, (w / 2) as i32, 20, &BLACK, centre)?;
    text(
        "predicted →",
        14.0,
        (left + cell * n as u32 / 2) as i32,
        top as i32 + (cell * n as u32) as i32 + 45,
        &BLACK,
        centre,
    )?;
    text("true ↓", 14.0, 40, top as i32 - 20, &BLACK, centre)?;
    for (r, row) in m.counts.iter().enumerate() {
        let total: usize = row.iter().sum();
        let y0 = (top + cell * r as u32) as i32;
        text(
            &m.labels[r],
            14.0,
            left as i32 - 8,
            y0 + cell as i32 / 2,
            &BLACK,
            Pos::new(HPos::Right, VPos::Center),
        )?;
        for (c, &count) in row.iter().enumerate() {
            let x0 = (left + cell * c as u32) as i32;
            let share = if total > 0 {
                count as f64 / total as f64
            } else {
                0.0
            };
            root.draw(&Rectangle::new(
                [(x0, y0), (x0 + cell as i32, y0 + cell as i32)],
                cell_colour(share).filled(),
            ))
            .map_err(err)?;
            root.draw(&Rectangle::new(
                [(x0, y0), (x0 + cell as i32, y0 + cell as i32)],
                RGBColor(200, 200, 200).stroke_width(1),
            ))
            .map_err(err)?;
            let ink = if share > 0.5 { WHITE } else { BLACK };
            text(
                &count.to_string(),
                16.0,
                x0 + cell as i32 / 2,
                y0 + cell as i32 / 2,
                &ink,
                centre,
            )?;
        }
    }
    for (c, label) in m.labels.iter().enumerate() {
        let x = (left + cell * c as u32 + cell / 2) as i32;
        let y = (top + cell * n as u32) as i32 + 8;
        // Column labels, shortened to fit under a cell.
        let short: String = label.chars().take(6).collect();
        text(
            &short,
            13.0,
            x,
            y + 8,
            &BLACK,
            Pos::new(HPos::Center, VPos::Center),
        )?;
    }
    root.present().map_err(err)?;
    Ok(())
}

/// Loss and accuracy per epoch (train and validation), two panels side by side.
pub fn curve_png(path: &Path, history: &[EpochReport], best_epoch: usize) -> Result<()> {
    register_font();
    let root = BitMapBackend::new(path, (1000, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let panels = root.split_evenly((1, 2));
    let last = history.len().max(2) as f64;
    type Pick = fn(&EpochReport) -> Option<f64>;
    type Line = (&'static str, Pick, RGBColor);
    let series: [(&str, [Line; 2]); 2] = [
        (
            "loss (binary cross-entropy)",
            [
                ("train", |r| Some(r.train_loss), BLUE),
                ("validation", |r| r.val_loss, RED),
            ],
        ),
        (
            "accuracy (validation: songs)",
            [
                ("train", |r| Some(r.train_acc), BLUE),
                ("validation", |r| r.val_acc, RED),
            ],
        ),
    ];
    for (area, (caption, lines)) in panels.iter().zip(series) {
        let ymax = history
            .iter()
            .flat_map(|r| lines.iter().filter_map(|(_, f, _)| f(r)))
            .fold(0f64, f64::max)
            .max(1e-3)
            * 1.05;
        let mut chart = ChartBuilder::on(area)
            .caption(caption, (FAMILY, 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(52)
            .build_cartesian_2d(1f64..last, 0f64..ymax)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .label_style((FAMILY, 13))
            .draw()
            .map_err(err)?;
        for (name, pick, colour) in lines {
            let pts: Vec<(f64, f64)> = history
                .iter()
                .filter_map(|r| pick(r).map(|v| (r.epoch as f64, v)))
                .collect();
            if pts.is_empty() {
                continue;
            }
            chart
                .draw_series(LineSeries::new(pts, colour.stroke_width(2)))
                .map_err(err)?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
        }
        if best_epoch > 0 {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(best_epoch as f64, 0.0), (best_epoch as f64, ymax)],
                    RGBColor(0, 150, 0),
                )))
                .map_err(err)?
                .label("selected epoch")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RGBColor(0, 150, 0)));
        }
        chart
            .configure_series_labels()
            .label_font((FAMILY, 13))
            .border_style(BLACK)
            .background_style(WHITE.mix(0.85))
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)?;
    Ok(())
}

/// A label's colour in a timeline picture: the plugin's palette by label index when the model
/// has no more labels than the palette has colours (the GTZAN genres); otherwise (the 50 MSD
/// tags) the palette goes to the labels that cover the most time, in that order, and the rest
/// are grey.
fn timeline_colours(n_labels: usize, time_by_label: &[f64]) -> Vec<RGBColor> {
    let rgb = |[r, g, b]: [u8; 3]| RGBColor(r, g, b);
    if n_labels <= timeline::PALETTE.len() {
        return (0..n_labels).map(|i| rgb(timeline::colour(i))).collect();
    }
    let mut order: Vec<usize> = (0..n_labels).filter(|&i| time_by_label[i] > 0.0).collect();
    order.sort_by(|&a, &b| time_by_label[b].total_cmp(&time_by_label[a]));
    let mut colours = vec![OTHER; n_labels];
    for (slot, &i) in order.iter().take(timeline::PALETTE.len()).enumerate() {
        colours[i] = rgb(timeline::PALETTE[slot]);
    }
    colours
}

/// Grey: a label without a colour of its own.
const OTHER: RGBColor = RGBColor(0xb4, 0xb8, 0xc2);

/// A tick every `step` seconds, about 6 to 12 of them along `length`.
fn tick_step(length: f64) -> f64 {
    const STEPS: [f64; 13] = [
        5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0,
    ];
    STEPS
        .into_iter()
        .find(|s| length / s <= 12.0)
        .unwrap_or(length / 12.0)
}

/// `m:ss`, or `h:mm:ss` past an hour.
fn clock(t: f64, hours: bool) -> String {
    let t = t.max(0.0).round() as u64;
    if hours {
        format!("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
    } else {
        format!("{}:{:02}", t / 60, t % 60)
    }
}

/// The colour of each label and the labels the legend shows, in order: every label of a
/// model with no more labels than the palette has colours; otherwise those that cover some
/// time, the most first.
struct Legend {
    colours: Vec<RGBColor>,
    shown: Vec<usize>,
}

impl Legend {
    /// From the time each label covers, in the segments and in the windows' cells (a label
    /// that only some windows have still needs a colour of its own).
    fn new(n_labels: usize, windows: &[Window], edges: &[f64], segments: &[Segment]) -> Self {
        let mut time_by_label = vec![0.0; n_labels];
        let spans = segments.iter().map(|g| (g.label, g.end - g.start));
        let cells = (windows.iter().enumerate()).map(|(j, w)| (w.top(), edges[j + 1] - edges[j]));
        for (label, t) in spans.chain(cells) {
            if let Some(sum) = time_by_label.get_mut(label) {
                *sum += t;
            }
        }
        let shown = if n_labels <= timeline::PALETTE.len() {
            (0..n_labels).collect()
        } else {
            let mut v: Vec<usize> = (0..n_labels).filter(|&i| time_by_label[i] > 0.0).collect();
            v.sort_by(|&a, &b| time_by_label[b].total_cmp(&time_by_label[a]));
            v
        };
        Self {
            colours: timeline_colours(n_labels, &time_by_label),
            shown,
        }
    }

    fn colour(&self, label: usize) -> RGBColor {
        self.colours.get(label).copied().unwrap_or(OTHER)
    }
}

/// The picture's canvas: pixels, and where a time of the recording falls on them.
struct Canvas<'a> {
    root: DrawingArea<BitMapBackend<'a>, Shift>,
    width: i32,
    /// Seconds drawn across the strip.
    length: f64,
}

/// Left and right margins of the strip, pixels.
const LEFT: i32 = 100;
const RIGHT: i32 = 30;
/// Top and bottom of the window strip and of the segment bar, pixels.
const STRIP: (i32, i32) = (70, 130);
const BAR: (i32, i32) = (140, 180);
/// The time axis, pixels from the top.
const AXIS: i32 = BAR.1 + 14;
const GREY: RGBColor = RGBColor(90, 90, 90);

impl Canvas<'_> {
    fn x_of(&self, t: f64) -> i32 {
        let span = f64::from(self.width - LEFT - RIGHT);
        LEFT + ((t / self.length).clamp(0.0, 1.0) * span) as i32
    }

    fn text(
        &self,
        s: &str,
        size: f64,
        (x, y): (i32, i32),
        colour: &RGBColor,
        pos: Pos,
    ) -> Result<()> {
        let font = (FAMILY, size).into_font().color(colour).pos(pos);
        self.root
            .draw(&Text::new(s.to_string(), (x, y), font))
            .map_err(err)
    }

    fn rect(&self, (x0, y0): (i32, i32), (x1, y1): (i32, i32), colour: RGBColor) -> Result<()> {
        let corners = [(x0, y0), (x1.max(x0 + 1), y1)];
        self.root
            .draw(&Rectangle::new(corners, colour.filled()))
            .map_err(err)
    }

    fn line(&self, from: (i32, i32), to: (i32, i32), style: ShapeStyle) -> Result<()> {
        self.root
            .draw(&PathElement::new(vec![from, to], style))
            .map_err(err)
    }

    /// One cell per window, from where it takes over to where the next one does, with a
    /// white line between cells where they are wide enough to show one.
    fn cells(&self, windows: &[Window], edges: &[f64], legend: &Legend) -> Result<()> {
        for (j, win) in windows.iter().enumerate() {
            let (x0, x1) = (self.x_of(edges[j]), self.x_of(edges[j + 1]));
            self.rect((x0, STRIP.0), (x1, STRIP.1), legend.colour(win.top()))?;
        }
        let cell = f64::from(self.width - LEFT - RIGHT) / windows.len().max(1) as f64;
        if cell >= 4.0 {
            for &t in &edges[1..edges.len().saturating_sub(1)] {
                let x = self.x_of(t);
                self.line((x, STRIP.0), (x, STRIP.1), WHITE.into())?;
            }
        }
        Ok(())
    }

    /// The segments, named where the name fits, and their boundaries drawn through the cells.
    fn segments(&self, segments: &[Segment], labels: &[String], legend: &Legend) -> Result<()> {
        let centre = Pos::new(HPos::Center, VPos::Center);
        for g in segments {
            let (x0, x1) = (self.x_of(g.start), self.x_of(g.end));
            self.rect((x0, BAR.0), (x1, BAR.1), legend.colour(g.label))?;
            let label = labels.get(g.label).map_or("?", String::as_str);
            // DejaVu Sans Mono at 13 px is about 8 px per character.
            if (x1 - x0) as usize > 8 * label.chars().count() + 8 {
                let at = ((x0 + x1) / 2, (BAR.0 + BAR.1) / 2);
                self.text(label, 13.0, at, &BLACK, centre)?;
            }
        }
        for g in segments.iter().skip(1) {
            let x = self.x_of(g.start);
            self.line((x, STRIP.0 - 6), (x, BAR.1 + 4), BLACK.stroke_width(2))?;
        }
        Ok(())
    }

    /// The time axis: `m:ss` ticks, `h:mm:ss` from an hour on.
    fn axis(&self) -> Result<()> {
        self.line((LEFT, AXIS), (self.width - RIGHT, AXIS), GREY.into())?;
        let step = tick_step(self.length);
        let hours = self.length >= 3600.0;
        let top = Pos::new(HPos::Center, VPos::Top);
        let mut t = 0.0;
        while t <= self.length + 1e-9 {
            let x = self.x_of(t);
            self.line((x, AXIS), (x, AXIS + 5), GREY.into())?;
            self.text(&clock(t, hours), 12.0, (x, AXIS + 8), &GREY, top)?;
            t += step;
        }
        Ok(())
    }

    /// The legend, six labels to a row.
    fn legend(&self, legend: &Legend, labels: &[String]) -> Result<()> {
        let left_mid = Pos::new(HPos::Left, VPos::Center);
        for (k, &i) in legend.shown.iter().enumerate() {
            let (x, y) = (LEFT + 200 * (k % 6) as i32, AXIS + 36 + 24 * (k / 6) as i32);
            self.rect((x, y), (x + 14, y + 14), legend.colour(i))?;
            let label = labels.get(i).map_or("?", String::as_str);
            self.text(label, 13.0, (x + 20, y + 7), &BLACK, left_mid)?;
        }
        Ok(())
    }
}

/// The genre timeline of one recording: a strip with one cell per window coloured by its top
/// label, below it the segments (coloured, named where they fit, their boundaries drawn
/// through both), a time axis and the legend. 1400 px wide whatever the length: a 2-hour
/// recording's 248 windows are 5 px cells.
pub fn timeline_png(
    png: &Path,
    audio: &Path,
    song: &SongScores,
    labels: &[String],
    settings: &TimelineSettings,
    model: &str,
) -> Result<()> {
    register_font();
    let windows = &song.timeline;
    let segments = timeline::segments(windows, &settings.segments);
    let edges = timeline::edges(windows);
    let legend = Legend::new(labels.len(), windows, &edges, &segments);
    let width = 1400;
    let height = 250 + 24 * legend.shown.len().div_ceil(6).max(1) as i32;
    let root = BitMapBackend::new(png, (width as u32, height as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let length = windows.last().map_or(0.0, |w| w.end).max(1e-3);
    let canvas = Canvas {
        root,
        width,
        length,
    };
    let name = audio.file_name().map_or_else(
        || audio.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let top_left = Pos::new(HPos::Left, VPos::Top);
    canvas.text(
        &format!("{name} · {model}"),
        18.0,
        (LEFT, 12),
        &BLACK,
        top_left,
    )?;
    let subtitle = format!(
        "{} windows of 29.12 s every {} s · {} segment{} (switch penalty {}, min segment {} s)",
        windows.len(),
        settings.windows.hop,
        segments.len(),
        if segments.len() == 1 { "" } else { "s" },
        settings.segments.switch_penalty,
        settings.segments.min_segment
    );
    canvas.text(&subtitle, 13.0, (LEFT, 38), &GREY, top_left)?;
    let right_mid = Pos::new(HPos::Right, VPos::Center);
    canvas.text(
        "windows",
        13.0,
        (LEFT - 10, (STRIP.0 + STRIP.1) / 2),
        &BLACK,
        right_mid,
    )?;
    canvas.text(
        "segments",
        13.0,
        (LEFT - 10, (BAR.0 + BAR.1) / 2),
        &BLACK,
        right_mid,
    )?;
    canvas.cells(windows, &edges, &legend)?;
    canvas.segments(&segments, labels, &legend)?;
    canvas.axis()?;
    canvas.legend(&legend, labels)?;
    canvas.root.present().map_err(err)?;
    Ok(())
}
