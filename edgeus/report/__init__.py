"""Reports: plots and the Markdown/HTML renderers."""
