//! Results: the printed table, the JSON list, and the SVG chart of ratios.

use std::fmt::Write as _;

/// One cell: a figure, or why there is none.
#[derive(Clone, Debug)]
pub enum Cell {
    /// A measured figure.
    Val(f64),
    /// Not measured, with the reason.
    Na(String),
}

impl Cell {
    fn val(&self) -> Option<f64> {
        match self {
            Cell::Val(v) => Some(*v),
            Cell::Na(_) => None,
        }
    }

    fn show(&self) -> String {
        match self {
            Cell::Val(v) => fmt_num(*v),
            Cell::Na(_) => "n/a".to_owned(),
        }
    }

    fn json(&self) -> serde_json::Value {
        match self {
            Cell::Val(v) => serde_json::json!(round(*v)),
            Cell::Na(_) => serde_json::Value::Null,
        }
    }
}

fn round(v: f64) -> f64 {
    if v.abs() >= 100.0 {
        v.round()
    } else {
        (v * 1000.0).round() / 1000.0
    }
}

fn fmt_num(v: f64) -> String {
    if v.abs() >= 1000.0 {
        let s = format!("{:.0}", v);
        let mut out = String::new();
        for (i, ch) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 && ch != '-' {
                out.push(',');
            }
            out.push(ch);
        }
        out
    } else if v.abs() >= 10.0 {
        format!("{:.1}", v)
    } else {
        format!("{:.3}", v)
    }
}

/// One measure of the table.
#[derive(Clone, Debug)]
pub struct Row {
    /// What is measured.
    pub measure: String,
    /// Unit.
    pub unit: String,
    /// Whether a larger figure is better (throughput) or worse (latency, bytes).
    pub higher_better: bool,
    /// ferrokube's figure.
    pub ferrokube: Cell,
    /// kube-rs's figure.
    pub kube_rs: Cell,
    /// client-go's figure with JSON (`bench/clientgo`).
    pub client_go_json: Cell,
    /// client-go's figure with protobuf (`rest.Config.ContentType`).
    pub client_go_protobuf: Cell,
    /// The Python client's figure.
    pub python: Cell,
    /// The same measure on the server alone (raw hyper client, no decoding), if it applies.
    pub server: Cell,
    /// The smallest and largest per-round ratio against kube-rs (rounds alternate, so
    /// round i of each client ran side by side), where it was measured per round.
    pub spread: Option<(f64, f64)>,
}

impl Row {
    /// A row with every client cell n/a.
    pub fn new(measure: impl Into<String>, unit: &str, higher_better: bool) -> Row {
        let na = || Cell::Na("not run".into());
        Row {
            measure: measure.into(),
            unit: unit.to_owned(),
            higher_better,
            ferrokube: na(),
            kube_rs: na(),
            client_go_json: na(),
            client_go_protobuf: na(),
            python: na(),
            server: Cell::Na("does not apply".into()),
            spread: None,
        }
    }

    /// ferrokube over kube-rs, oriented so that above 1 means ferrokube is better.
    pub fn ratio(&self) -> Option<f64> {
        self.ratio_to(&self.kube_rs)
    }

    /// ferrokube over another client's cell, oriented so that above 1 means ferrokube is
    /// better.
    pub fn ratio_to(&self, other: &Cell) -> Option<f64> {
        let (f, k) = (self.ferrokube.val()?, other.val()?);
        let r = if self.higher_better { f / k } else { k / f };
        r.is_finite().then_some(r)
    }

    /// The ratios against kube-rs, client-go (json) and client-go (protobuf).
    pub fn ratios(&self) -> [Option<f64>; 3] {
        [self.ratio(), self.ratio_to(&self.client_go_json), self.ratio_to(&self.client_go_protobuf)]
    }
}

/// The table as text.
pub fn table(rows: &[Row]) -> String {
    let head = [
        "measure",
        "unit",
        "ferrokube",
        "kube-rs",
        "client-go (json)",
        "client-go (protobuf)",
        "python",
        "ratio",
        "ratio min-max",
        "vs client-go (json)",
        "vs client-go (protobuf)",
        "server alone",
    ];
    let show_ratio = |x: Option<f64>| x.map(|x| format!("{x:.2}x")).unwrap_or_else(|| "n/a".into());
    let cells: Vec<[String; 12]> = rows
        .iter()
        .map(|r| {
            let [k, j, p] = r.ratios();
            [
                r.measure.clone(),
                r.unit.clone(),
                r.ferrokube.show(),
                r.kube_rs.show(),
                r.client_go_json.show(),
                r.client_go_protobuf.show(),
                r.python.show(),
                show_ratio(k),
                r.spread.map(|(a, b)| format!("{a:.2}-{b:.2}")).unwrap_or_default(),
                show_ratio(j),
                show_ratio(p),
                r.server.show(),
            ]
        })
        .collect();
    let mut w = head.map(str::len);
    for c in &cells {
        for (i, s) in c.iter().enumerate() {
            w[i] = w[i].max(s.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, c: &[String]| {
        out.push('|');
        for (i, s) in c.iter().enumerate() {
            let pad = w[i] - s.chars().count();
            if i < 2 {
                let _ = write!(out, " {s}{} |", " ".repeat(pad));
            } else {
                let _ = write!(out, " {}{s} |", " ".repeat(pad));
            }
        }
        out.push('\n');
    };
    line(&mut out, &head.map(String::from));
    out.push('|');
    for (i, n) in w.iter().enumerate() {
        let _ =
            write!(out, "{}|", if i < 2 { format!("-{}-", "-".repeat(*n)) } else { format!("-{}:", "-".repeat(*n)) });
    }
    out.push('\n');
    for c in &cells {
        line(&mut out, c);
    }
    // Why cells are n/a, one line per (client, reason); a reason shared by several rows
    // is written once with the number of rows.
    let mut notes: Vec<(&str, &str, Vec<&str>)> = Vec::new();
    for r in rows {
        for (who, c) in [
            ("ferrokube", &r.ferrokube),
            ("kube-rs", &r.kube_rs),
            ("client-go (json)", &r.client_go_json),
            ("client-go (protobuf)", &r.client_go_protobuf),
            ("python", &r.python),
        ] {
            let Cell::Na(why) = c else { continue };
            if why == "not run" {
                continue;
            }
            match notes.iter_mut().find(|(w, y, _)| *w == who && *y == why.as_str()) {
                Some((_, _, measures)) => measures.push(&r.measure),
                None => notes.push((who, why, vec![&r.measure])),
            }
        }
    }
    let notes: Vec<String> = notes
        .into_iter()
        .map(|(who, why, measures)| match measures.as_slice() {
            [one] => format!("- {one} / {who}: n/a: {why}"),
            many => format!("- {who}: n/a in {} rows: {why}", many.len()),
        })
        .collect();
    if !notes.is_empty() {
        out.push('\n');
        for n in notes {
            out.push_str(&n);
            out.push('\n');
        }
    }
    out
}

/// The JSON list: `{"measure","unit","ferrokube","kube_rs","client_go_json",
/// "client_go_protobuf","python","ratio","ratio_client_go_json","ratio_client_go_protobuf"}`
/// per row (n/a is `null`; `ratio` is against kube-rs, `ratio_min`/`ratio_max` its
/// spread over rounds where measured), plus `"server"` (server alone) and
/// `"notes"` (reasons for n/a).
pub fn json(rows: &[Row]) -> serde_json::Value {
    serde_json::Value::Array(
        rows.iter()
            .map(|r| {
                let mut notes = serde_json::Map::new();
                for (k, c) in [
                    ("ferrokube", &r.ferrokube),
                    ("kube_rs", &r.kube_rs),
                    ("client_go_json", &r.client_go_json),
                    ("client_go_protobuf", &r.client_go_protobuf),
                    ("python", &r.python),
                    ("server", &r.server),
                ] {
                    if let Cell::Na(why) = c {
                        notes.insert(k.into(), why.clone().into());
                    }
                }
                serde_json::json!({
                    "measure": r.measure,
                    "unit": r.unit,
                    "ferrokube": r.ferrokube.json(),
                    "kube_rs": r.kube_rs.json(),
                    "client_go_json": r.client_go_json.json(),
                    "client_go_protobuf": r.client_go_protobuf.json(),
                    "python": r.python.json(),
                    "ratio": r.ratio().map(round),
                    "ratio_min": r.spread.map(|s| round(s.0)),
                    "ratio_max": r.spread.map(|s| round(s.1)),
                    "ratio_client_go_json": r.ratio_to(&r.client_go_json).map(round),
                    "ratio_client_go_protobuf": r.ratio_to(&r.client_go_protobuf).map(round),
                    "server": r.server.json(),
                    "notes": notes,
                })
            })
            .collect(),
    )
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// A horizontal bar chart of the ratios (log scale, 1x line), as SVG: per measure, one bar
/// for each client ferrokube is compared with (kube-rs, client-go json, client-go
/// protobuf), where measured.
pub fn svg(rows: &[Row], title: &str) -> String {
    const SERIES: [(&str, &str); 3] =
        [("vs kube-rs", "#1971c2"), ("vs client-go (json)", "#e8590c"), ("vs client-go (protobuf)", "#7048e8")];
    let rows: Vec<(&Row, [Option<f64>; 3])> =
        rows.iter().map(|r| (r, r.ratios())).filter(|(_, x)| x.iter().any(Option::is_some)).collect();
    let (label_w, bar_w, row_h, top) = (470.0, 420.0, 30.0, 74.0);
    let width = label_w + bar_w + 90.0;
    let height = top + row_h * rows.len() as f64 + 40.0;
    // log2 scale from 1/4x to 8x.
    let (lo, hi) = (-2.0f64, 3.0f64);
    let x = |r: f64| label_w + (r.log2().clamp(lo, hi) - lo) / (hi - lo) * bar_w;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(s, r#"<text x="10" y="20" font-size="15" font-weight="bold">{}</text>"#, esc(title));
    let _ = writeln!(
        s,
        r#"<text x="10" y="38" fill="dimgray">ferrokube vs kube-rs and client-go, same server, same run; &gt;1 = ferrokube better (log scale)</text>"#
    );
    for (i, (name, color)) in SERIES.iter().enumerate() {
        let lx = 10.0 + 200.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<rect x="{lx:.1}" y="48" width="12" height="10" fill="{color}"/><text x="{:.1}" y="57">{}</text>"#,
            lx + 16.0,
            esc(name)
        );
    }
    for t in [0.25, 0.5, 1.0, 2.0, 4.0, 8.0] {
        let xx = x(t);
        let stroke = if t == 1.0 { "#000" } else { "#ddd" };
        let _ = writeln!(
            s,
            r#"<line x1="{xx:.1}" y1="{}" x2="{xx:.1}" y2="{}" stroke="{stroke}"/><text x="{xx:.1}" y="{}" text-anchor="middle" fill="dimgray">{t}x</text>"#,
            top - 6.0,
            top + row_h * rows.len() as f64,
            top + row_h * rows.len() as f64 + 16.0
        );
    }
    for (i, (r, ratios)) in rows.iter().enumerate() {
        let y = top + row_h * i as f64;
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            label_w - 8.0,
            y + row_h * 0.55,
            esc(&format!("{} ({})", r.measure, r.unit))
        );
        let bar_h = (row_h - 6.0) / 3.0;
        for (j, ratio) in ratios.iter().enumerate() {
            let Some(ratio) = ratio else { continue };
            let by = y + 2.0 + bar_h * j as f64;
            let (x0, x1) = (x(1.0), x(*ratio));
            let (bx, bw) = if x1 >= x0 { (x0, x1 - x0) } else { (x1, x0 - x1) };
            let _ = writeln!(
                s,
                r#"<rect x="{bx:.1}" y="{by:.1}" width="{:.1}" height="{:.1}" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="9">{ratio:.2}x</text>"#,
                bw.max(1.0),
                bar_h - 1.0,
                SERIES[j].1,
                x1.max(x0) + 4.0,
                by + bar_h - 1.5
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

/// Median of a non-empty slice.
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
