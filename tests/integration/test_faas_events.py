"""Checks faas_events.classify (FaaS Supervisor's parse_event, COMPAT.md §2.2) on the example
events of COMPAT.md §2.3, and echo_roundtrip on OSCAR's unquoted `echo $EVENT` (§3.2).

    cd tests/integration && python3 -m unittest -v test_faas_events
"""
import json
import shutil
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from faas_events import classify, echo_roundtrip, oscar_job_view  # noqa: E402

MINIO = {"EventName": "s3:ObjectCreated:Put",
         "Key": "images/nature-wallpaper-229.jpg",
         "Records": [{"eventVersion": "2.0", "eventSource": "minio:s3", "awsRegion": "",
                      "eventTime": "2018-06-29T10:23:44Z", "eventName": "s3:ObjectCreated:Put",
                      "userIdentity": {"principalId": "minio"},
                      "requestParameters": {"sourceIPAddress": "10.244.0.0:34852"},
                      "responseElements": {"x-amz-request-id": "153C9A7A7A3FB6AE",
                                           "x-minio-origin-endpoint": "http://10.244.1.3:9000"},
                      "s3": {"s3SchemaVersion": "1.0", "configurationId": "Config",
                             "bucket": {"name": "images",
                                        "ownerIdentity": {"principalId": "minio"},
                                        "arn": "arn:aws:s3:::images"},
                             "object": {"key": "nature-wallpaper-229.jpg", "size": 1019645,
                                        "eTag": "dd20b7e4b74467ff16ce2d901c054419",
                                        "contentType": "image/jpeg",
                                        "userMetadata": {"content-type": "image/jpeg"},
                                        "versionId": "1", "sequencer": "153C9A7A7A3FB6AE"}},
                      "source": {"host": "", "port": "", "userAgent": ""}}]}
S3 = {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
                   "eventTime": "2019-02-23T11:40:46.473Z", "eventName": "ObjectCreated:Put",
                   "userIdentity": {"principalId": "AWS:XXXXX"},
                   "requestParameters": {"sourceIPAddress": "84.123.4.23"},
                   "responseElements": {"x-amz-id-2": "XXXXX", "x-amz-request-id": "XXXXX"},
                   "s3": {"s3SchemaVersion": "1.0", "configurationId": "XXXXX",
                          "bucket": {"name": "scar-darknet-bucket",
                                     "ownerIdentity": {"principalId": "XXXXX"},
                                     "arn": "arn:aws:s3:::scar-darknet-bucket"},
                          "object": {"key": "scar-darknet-s3/input/dog.jpg", "size": 999,
                                     "eTag": "XXXXX", "sequencer": "XXXXX"}}}]}
ONEDATA = {"Key": "/my-onedata-space/files/file.txt",
           "Records": [{"objectKey": "file.txt", "objectId": "0000034500046EE9C6775",
                        "eventTime": "2019-02-07T09:51:04.347823", "eventSource": "OneTrigger"}]}
DCACHE = {"event": {"name": "image2.jpg", "mask": ["IN_CREATE"]},
          "subscription": "https://prometheus.desy.de:3880/api/v1/events/channels/"
                          "oyGcraV_6abmXQU0_yMApQ/subscriptions/inotify/AACvM"}
RUCIO = {"event_type": "close", "payload": {"scope": "username", "name": "dataset_name"}}


class ClassifyTests(unittest.TestCase):
    def test_minio(self):
        ev = classify(json.dumps(MINIO))
        self.assertEqual((ev.kind, ev.object_key, ev.file_name, ev.event_time, ev.bucket,
                          ev.bucket_arn, ev.storage_provider),
                         ("MINIO", "nature-wallpaper-229.jpg", "nature-wallpaper-229.jpg",
                          "2018-06-29T10:23:44Z", "images", "arn:aws:s3:::images", "default"))
        self.assertEqual(ev.env["STORAGE_OBJECT_KEY"], "nature-wallpaper-229.jpg")
        self.assertEqual(ev.env["EVENT_TIME"], "2018-06-29T10:23:44Z")
        self.assertEqual(json.loads(ev.env["EVENT"]), MINIO)
        self.assertEqual(ev["kind"], "MINIO")
        self.assertEqual(ev.as_dict()["bucket"], "images")

    def test_object_key_is_unquote_plus_decoded(self):
        ev = json.loads(json.dumps(MINIO))
        ev["Records"][0]["s3"]["object"]["key"] = "in%2Fmy+photo%C3%A9.jpg"
        got = classify(ev)
        self.assertEqual((got.object_key, got.file_name), ("in/my photoé.jpg", "my photoé.jpg"))

    def test_s3(self):
        ev = classify(json.dumps(S3).encode())
        self.assertEqual((ev.kind, ev.object_key, ev.file_name, ev.bucket, ev.event_time),
                         ("S3", "scar-darknet-s3/input/dog.jpg", "dog.jpg",
                          "scar-darknet-bucket", "2019-02-23T11:40:46.473Z"))

    def test_onedata(self):
        ev = classify(json.dumps(ONEDATA))
        self.assertEqual((ev.kind, ev.object_key, ev.file_name, ev.event_time,
                          ev.storage_provider),
                         ("ONEDATA", "/my-onedata-space/files/file.txt", "file.txt",
                          "2019-02-07T09:51:04.347823", None))

    def test_dcache(self):
        ev = classify(json.dumps(DCACHE))
        self.assertEqual((ev.kind, ev.object_key, ev.file_name, ev.event_time,
                          ev.storage_provider), ("DCACHE", "image2.jpg", "image2.jpg", None,
                                                 "dcache"))
        self.assertEqual(ev.env, {})
        inputs = [{"storage_provider": "minio.default", "path": "x/in"},
                  {"storage_provider": "webdav.dcache", "path": "/data/in"}]
        self.assertEqual(classify(DCACHE, inputs=inputs).object_key, "/data/in/image2.jpg")
        self.assertEqual(classify(DCACHE, inputs=[{"storage_provider": "webdav.other",
                                                   "path": "/p"}]).object_key, "image2.jpg")

    def test_rucio(self):
        ev = classify(json.dumps(RUCIO))
        self.assertEqual((ev.kind, ev.object_key, ev.scope, ev.storage_provider),
                         ("RUCIO", "dataset_name", "username", "rucio"))
        # Records-style Rucio needs the payload too: without it the supervisor crashes
        self.assertEqual(classify({"Records": [{"eventSource": "rucio"}]}).kind, "ERROR")

    def test_delegated_wrapper(self):
        body = json.dumps({"storage_provider": "minio.cluster2", "event": json.dumps(MINIO)})
        ev = classify(body)
        self.assertEqual((ev.kind, ev.storage_provider, ev.via),
                         ("MINIO", "minio.cluster2", ["DELEGATED"]))
        ev = classify({"event": MINIO})                 # no provider: "default" again
        self.assertEqual((ev.kind, ev.storage_provider), ("MINIO", "default"))
        # a custom payload with a top-level "event" key is taken for the wrapper
        self.assertEqual(classify({"event": "hello", "id": 1}).kind, "UNKNOWN")
        self.assertEqual(classify({"event": {"Records": []}}).via, ["DELEGATED"])

    def test_api_gateway(self):
        body = {"httpMethod": "POST", "headers": {"Content-Type": "application/json"},
                "body": json.dumps(S3), "queryStringParameters": {"mode": "fast", "e": ""}}
        ev = classify(body, storage_provider="s3.other")
        self.assertEqual((ev.kind, ev.via, ev.storage_provider), ("S3", ["APIGATEWAY"],
                                                                   "default"))
        self.assertEqual(ev.env["CONT_VAR_mode"], "fast")
        self.assertNotIn("CONT_VAR_e", ev.env)
        self.assertEqual(classify({"httpMethod": "GET"}).kind, "UNKNOWN")

    def test_unknown_and_order(self):
        for body in ("not json", "", b"\xff\xfe", json.dumps({"Records": []}),
                     json.dumps({"Records": [{"eventSource": "ceph:s3"}]}),
                     json.dumps({"Records": [{"s3": {}}]}), json.dumps({"k": "v"}),
                     json.dumps("a string"), "[1, 2]"):
            with self.subTest(body=body):
                self.assertEqual(classify(body).kind, "UNKNOWN")
        self.assertEqual(classify("not json").event, "not json")
        # dCache is tested before the delegation wrapper, Rucio before it too
        self.assertEqual(classify({"event": {"name": "f"}, "subscription": "s",
                                   "storage_provider": "x"}).kind, "DCACHE")
        self.assertEqual(classify({**RUCIO, "event": RUCIO}).kind, "RUCIO")

    def test_supervisor_crashes_are_errors(self):
        for body in ("null", "5", '["httpMethod"]', '"event subscription"',
                     {"event_type": "close"}, {"event": {"no_name": 1}, "subscription": "s"},
                     {"Records": [{"eventSource": "aws:s3"}]}):
            with self.subTest(body=body):
                ev = classify(body)
                self.assertEqual(ev.kind, "ERROR", ev)
                self.assertTrue(ev.error)


@unittest.skipUnless(shutil.which("sh"), "needs a shell")
class EchoTests(unittest.TestCase):
    def test_compact_json_survives(self):
        body = json.dumps(MINIO, separators=(",", ":"))
        self.assertEqual(echo_roundtrip(body), body)
        self.assertEqual(oscar_job_view(body.encode()).kind, "MINIO")

    def test_whitespace_collapses(self):
        self.assertEqual(echo_roundtrip('{"a":  "x   y",\n "b": 1}'), '{"a": "x y", "b": 1}')
        # pretty-printed JSON still parses, but the key's spaces are lost
        ev = json.loads(json.dumps(S3))
        ev["Records"][0]["s3"]["object"]["key"] = "a  b.jpg"
        self.assertEqual(oscar_job_view(json.dumps(ev, indent=2)).object_key, "a b.jpg")

    def test_globs_expand_against_the_working_directory(self):
        with tempfile.TemporaryDirectory() as d:
            Path(d, "match.txt").write_text("")
            self.assertEqual(echo_roundtrip("*.txt", cwd=d), "match.txt")
        self.assertEqual(echo_roundtrip("*.txt"), "*.txt")     # empty dir: kept

    @unittest.skipUnless(Path("/bin/sh").resolve().name == "dash", "dash's echo")
    def test_dash_echo_interprets_backslashes(self):
        self.assertEqual(echo_roundtrip(r'{"k":"a\nb"}'), '{"k":"a\nb"}')
        # a raw newline inside a JSON string: json.loads fails, the event is UNKNOWN
        self.assertEqual(oscar_job_view(r'{"k":"a\nb"}').kind, "UNKNOWN")
        self.assertEqual(echo_roundtrip(r"a\cb"), "a")

    def test_nul_rejected(self):
        with self.assertRaises(ValueError):
            echo_roundtrip("a\0b")


if __name__ == "__main__":
    unittest.main()
