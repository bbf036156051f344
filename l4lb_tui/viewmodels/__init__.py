"""What the console shows, worked out without Textual: a poll's rates, rows,
history and chart series (in the poll's thread), and the operator's edits
and their undo.  Widgets and screens render these; nothing here draws."""
