"""The daemon kit: the layer between the store and the services. Every daemon reads its
settings (`settings`, `flags`), logs (`logs`), talks to systemd (`sdnotify`), serves HTTP
(`listener`) and runs its life cycle (`runner`) through these modules."""
