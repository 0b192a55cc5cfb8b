"""Label Studio: label config from the taxonomy, tasks, pre-annotations, selection, export."""
