"""The tabs and the sidebar: Panel `Viewer`s over the state."""
