//! Printing results as tables or JSON.

use serde::Serialize;

use crate::args::OutputFormat;

/// Prints `value` as JSON, or as the table `rows` builds.
pub fn print<T: Serialize>(
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
pub fn done<T: Serialize>(format: OutputFormat, value: &T, message: &str) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(value)?),
        OutputFormat::Table => println!("{message}"),
    }
    Ok(())
}

/// A text table with aligned columns.
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&'static str]) -> Self {
        Self {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    /// Appends a row (as many cells as headers).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn render(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.len()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(cell.len());
                }
            }
        }
        let line = |cells: Vec<&str>| {
            let mut out = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
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
pub fn pairs<'a>(map: impl IntoIterator<Item = (&'a String, &'a String)>) -> String {
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
}
