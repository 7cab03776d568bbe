//! The chart every bench draws beside its table: grouped bars (one group per
//! module, workload or kernel; one bar per configuration) with min–max
//! whiskers, as an SVG under `<target>/bench/`, drawn with `plotters`.
//!
//! **Invariant:** a missing number (a peer not installed, a run that failed)
//! is a gap in its group, never a zero-height bar that would read as "free".

use std::path::{Path, PathBuf};

use plotters::prelude::*;

use crate::paths;

/// One bar: the median and the min–max of its samples.
#[derive(Debug, Clone, Copy)]
pub struct Bar {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

/// A grouped bar chart: `values[g][s]` is series `s` in group `g`.
pub struct Chart<'a> {
    pub title: &'a str,
    pub y_label: &'a str,
    pub groups: Vec<String>,
    pub series: Vec<String>,
    pub values: Vec<Vec<Option<Bar>>>,
}

/// Writes `chart` to `<target>/bench/<name>.svg` and returns the path.
pub fn write_svg(name: &str, chart: &Chart) -> Result<PathBuf, String> {
    let dir = paths::target_dir().join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let path = dir.join(format!("{name}.svg"));
    draw(&path, chart).map_err(|e| format!("drawing {}: {e}", path.display()))?;
    Ok(path)
}

fn draw(path: &Path, chart: &Chart) -> Result<(), Box<dyn std::error::Error>> {
    let groups = chart.groups.len().max(1);
    let series = chart.series.len().max(1);
    // Wide enough that every bar is a few pixels and labels do not collide.
    let width = (160 + groups * (series * 14 + 40)).clamp(640, 2400) as u32;
    // The legend has a column of its own on the right, off the bars.
    let legend_width = 210;
    let root = SVGBackend::new(path, (width + legend_width, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let (plot, legend) = root.split_horizontally(width);
    let top = chart
        .values
        .iter()
        .flatten()
        .flatten()
        .map(|b| b.max.max(b.median))
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max);
    let top = if top > 0.0 { top * 1.1 } else { 1.0 };
    let mut ctx = ChartBuilder::on(&plot)
        .caption(chart.title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..groups as f64, 0f64..top)?;
    ctx.configure_mesh()
        .disable_x_mesh()
        .disable_x_axis()
        .y_desc(chart.y_label)
        .draw()?;
    let slot = 0.8 / series as f64;
    for (s, name) in chart.series.iter().enumerate() {
        let color = Palette99::pick(s).to_rgba();
        let bars = chart.values.iter().enumerate().filter_map(|(g, row)| {
            let bar = (*row.get(s)?)?;
            let x0 = g as f64 + 0.1 + s as f64 * slot;
            Some(Rectangle::new(
                [(x0, 0.0), (x0 + slot * 0.9, bar.median)],
                color.filled(),
            ))
        });
        ctx.draw_series(bars)?;
        let y = 48 + 20 * s as i32;
        legend.draw(&Rectangle::new([(4, y - 5), (14, y + 5)], color.filled()))?;
        legend.draw(&Text::new(name.clone(), (20, y - 6), ("sans-serif", 13)))?;
        let whiskers = chart.values.iter().enumerate().filter_map(|(g, row)| {
            let bar = (*row.get(s)?)?;
            let x = g as f64 + 0.1 + (s as f64 + 0.45) * slot;
            Some(PathElement::new(
                vec![(x, bar.min), (x, bar.max)],
                BLACK.stroke_width(1),
            ))
        });
        ctx.draw_series(whiskers)?;
    }
    // Group names under their groups (the x axis is positions, not values).
    for (g, name) in chart.groups.iter().enumerate() {
        let (x, y) = ctx.backend_coord(&(g as f64 + 0.5, 0.0));
        plot.draw(&Text::new(
            name.clone(),
            (x - (name.len() as i32 * 7) / 2, y + 8),
            ("sans-serif", 14),
        ))?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_groups_series_and_gaps() {
        let dir = std::env::temp_dir().join(format!("rung-chart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.svg");
        let bar = |m: f64| {
            Some(Bar {
                median: m,
                min: m * 0.9,
                max: m * 1.2,
            })
        };
        let chart = Chart {
            title: "t",
            y_label: "s",
            groups: vec!["cc1-lvm".into(), "python".into()],
            series: vec!["rung tiered".into(), "node".into()],
            values: vec![vec![bar(2.0), bar(4.0)], vec![bar(3.0), None]],
        };
        draw(&path, &chart).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        for text in ["cc1-lvm", "python", "rung tiered", "node"] {
            assert!(svg.contains(text), "{text} missing from the chart");
        }
        // Three bars (one gap), two legend swatches and the background.
        assert_eq!(svg.matches("<rect").count(), 6);
    }
}
