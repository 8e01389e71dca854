"""edgeus.farm: the device farm on Ray. Device agents advertise the profiles their identity matches, builds
run each target on a matching device, validation shards over a profile's devices. Layer 1.5: may import the
pipeline and everything below it, never the CLI; Ray is imported lazily (``edgeus[farm]``)."""
