// \(t) is being written; see DESIGN.md.
