"""The topic spider lives in :mod:`crawler.spiders.topic`."""
