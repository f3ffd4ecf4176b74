def test_admin_port_answers_version_comment(proxyd):
    assert proxyd.query("select @@version_comment limit 1") == [("(proxyd Admin Module)",)]
