"""First-party proxyd plugins, loaded through the ``proxyd.plugins`` entry points like anyone's."""
