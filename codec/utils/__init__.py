"""Small shared helpers below every layer: metrics, progress bars for slow steps, clean stops on signals."""
