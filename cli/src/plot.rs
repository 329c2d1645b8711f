//! PNG figures with plotters: the confusion-matrix heat map of `eval gtzan --plot` and the
//! training curves of `finetune --curve`. Text is drawn with an embedded DejaVu Sans Mono
//! (Bitstream Vera licence, `cli/assets/LICENSE-DejaVu.txt`), so no system fonts are needed.

use std::path::Path;
use std::sync::Once;

use anyhow::{anyhow, Result};
use mgr_core::eval::metrics::Confusion;
use mgr_core::train::top::EpochReport;
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
