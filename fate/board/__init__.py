"""The board: read-only web pages over a party's flow (jobs, logs, metrics, ROC and loss curves)."""
