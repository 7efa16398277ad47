"""A run's configuration: frozen dataclasses filled from YAML (`run_config`), each value
checked against its type with one-line errors naming the key (`values`). The shipped configs are
configs/<model>.yaml."""
