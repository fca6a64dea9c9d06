//! Printing results as tables or JSON.

use serde::Serialize;

use crate::args::OutputFormat;

/// Prints `value` as JSON, or as the table `rows` builds.
pub(crate) fn print<T: Serialize>(
    format: OutputFormat,
    value: &T,
    table: impl FnOnce() -> Table,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(value)?),
        OutputFormat::Table => print!("{}", table().render()),
    }
    Ok(())
}

/// Prints a one-line confirmation, or `value` as JSON.
pub(crate) fn done<T: Serialize>(
    format: OutputFormat,
    value: &T,
    message: &str,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(value)?),
        OutputFormat::Table => println!("{message}"),
    }
    Ok(())
}

/// A text table with aligned columns.
pub(crate) struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub(crate) fn new(headers: &[&'static str]) -> Self {
        Self {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Appends a row (as many cells as headers).
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub(crate) fn render(&self) -> String {
        let width = |s: &str| s.chars().count();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(width(cell));
                }
            }
        }
        // Padded by hand: `format!("{c:<w$}")` panics for widths over
        // 65,535, and a label or config value can be that long.
        let line = |cells: Vec<&str>| {
            let mut out = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| {
                    let mut cell = String::with_capacity(c.len() + w.saturating_sub(width(c)));
                    cell.push_str(c);
                    cell.extend(std::iter::repeat_n(' ', w.saturating_sub(width(c))));
                    cell
                })
                .collect::<Vec<_>>()
                .join("  ");
            out.truncate(out.trim_end().len());
            out.push('\n');
            out
        };
        let mut out = line(self.headers.clone());
        for row in &self.rows {
            out.push_str(&line(row.iter().map(String::as_str).collect()));
        }
        out
    }
}

/// `k=v,k=v` for labels and config.
pub(crate) fn pairs<'a>(map: impl IntoIterator<Item = (&'a String, &'a String)>) -> String {
    map.into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_lines_have_no_trailing_space() {
        let mut table = Table::new(&["ID", "NAME"]);
        table.row(vec!["a-long-id".into(), "x".into()]);
        table.row(vec!["b".into(), String::new()]);
        assert_eq!(table.render(), "ID         NAME\na-long-id  x\nb\n");
    }

    #[test]
    fn cells_wider_than_65535_characters_render() {
        let wide = "w".repeat(70_000);
        let mut table = Table::new(&["KEY", "VALUE"]);
        table.row(vec![wide.clone(), "v".into()]);
        table.row(vec!["k".into(), wide.clone()]);
        let out = table.render();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1], format!("{wide}  v"));
        assert_eq!(lines[2], format!("k{}  {wide}", " ".repeat(69_999)));
    }

    #[test]
    fn columns_align_by_characters_not_bytes() {
        let mut table = Table::new(&["A", "B"]);
        table.row(vec!["é".into(), "x".into()]);
        assert_eq!(table.render(), "A  B\né  x\n");
    }
}
