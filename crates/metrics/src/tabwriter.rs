//! Go's `text/tabwriter` as kubectl configures it (`minwidth 6, tabwidth 4, padding 3,
//! padchar ' '`, no flags), for text whose cells all end in `\t`.
//!
//! Each line is a list of cells; a cell followed by `\t` belongs to a column, the text
//! after a line's last `\t` does not. A column block is a run of consecutive lines that
//! have a cell in that column; its width is `max(minwidth, widest cell + padding)`, and
//! every column cell is padded to it, the last column's too (hence trailing spaces).

const MIN_WIDTH: usize = 6;
const PADDING: usize = 3;

/// Aligns `lines`, each a list of tab-terminated cells plus the text after the last tab.
pub(crate) fn render(lines: &[Vec<String>]) -> String {
    let mut out = String::new();
    let mut widths = Vec::new();
    format(&mut out, &mut widths, lines, 0, lines.len());
    out
}

fn format(
    out: &mut String,
    widths: &mut Vec<usize>,
    lines: &[Vec<String>],
    mut line0: usize,
    line1: usize,
) {
    let column = widths.len();
    let mut this = line0;
    while this < line1 {
        if column + 1 >= lines[this].len() {
            this += 1;
            continue;
        }
        write_lines(out, widths, &lines[line0..this]);
        line0 = this;
        let mut width = MIN_WIDTH;
        while this < line1 && column + 1 < lines[this].len() {
            width = width.max(lines[this][column].chars().count() + PADDING);
            this += 1;
        }
        widths.push(width);
        format(out, widths, lines, line0, this);
        widths.pop();
        line0 = this;
    }
    write_lines(out, widths, &lines[line0..line1]);
}

fn write_lines(out: &mut String, widths: &[usize], lines: &[Vec<String>]) {
    for line in lines {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if let Some(w) = widths.get(j) {
                let pad = w.saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
}
