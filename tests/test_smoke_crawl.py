from conftest import run_crawl, scalar


def test_first_crawl_archives_twenty_items(site, db):
    crawl = run_crawl(site.topic_url(), db)
    assert crawl.returncode == 0, crawl.stderr
    assert crawl.run["items_new"] == 20
    assert scalar(db, "select count(*) from items") == 20
