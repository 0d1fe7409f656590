// The Docker Engine API's wire formats (broker/docker/engine_wire.hpp) without
// a daemon: request paths and queries, the bodies sent, the answers read,
// the API version chosen, the sentences error answers become, stream framing.

#include "broker/docker/engine_wire.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/stream_frame.hpp"

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>

namespace pb {
namespace {

namespace detail = broker::docker::detail;
using broker::docker::compare_api_versions;
using broker::docker::StreamDemuxer;
using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// ------------------------------------------------------------ paths

TEST(EngineWirePaths, UrlEncodingKeepsOnlyTheUnreservedCharacters) {
  EXPECT_EQ(detail::url_encode("aZ09-_.~"), "aZ09-_.~");
  EXPECT_EQ(detail::url_encode("a b/c:d?e&f=%"), "a%20b%2Fc%3Ad%3Fe%26f%3D%25");
  EXPECT_EQ(detail::url_encode("\xff"), "%FF");
}

TEST(EngineWirePaths, AnImageNameKeepsItsRegistryPathTagAndDigestSeparators) {
  EXPECT_EQ(detail::name_segment("registry:5000/org/name:tag"), "registry:5000/org/name:tag");
  EXPECT_EQ(detail::name_segment("busybox@sha256:abc"), "busybox@sha256:abc");
  EXPECT_EQ(detail::name_segment("a b?c#d"), "a%20b%3Fc%23d");
}

TEST(EngineWirePaths, FiltersAreOneEncodedJsonObjectOfLabelsAndName) {
  EXPECT_EQ(detail::filters_query({}), "");
  EXPECT_EQ(detail::filters_query({}, ""), "");
  EXPECT_EQ(detail::filters_query({"a=b", "c"}), "filters=" + detail::url_encode(R"({"label":["a=b","c"]})"));
  EXPECT_EQ(detail::filters_query({"a"}, "pb-"), "filters=" + detail::url_encode(R"({"label":["a"],"name":["pb-"]})"));
  EXPECT_EQ(detail::filters_query({}, "pb-"), "filters=" + detail::url_encode(R"({"name":["pb-"]})"));
}

TEST(EngineWirePaths, ListCallsJoinTheirFiltersToTheirOwnQuery) {
  const std::string f = detail::filters_query({"k=v"});
  EXPECT_EQ(detail::image_list_path({}), "/images/json");
  EXPECT_EQ(detail::image_list_path({"k=v"}), "/images/json?" + f);
  EXPECT_EQ(detail::container_list_path({}), "/containers/json?all=1");
  EXPECT_EQ(detail::container_list_path({"k=v"}), "/containers/json?all=1&" + f);
  EXPECT_EQ(detail::volume_list_path({}, ""), "/volumes");
  EXPECT_EQ(detail::volume_list_path({"k=v"}, ""), "/volumes?" + f);
  EXPECT_EQ(detail::volume_list_path({"k=v"}, "x"), "/volumes?" + detail::filters_query({"k=v"}, "x"));
}

TEST(EngineWirePaths, ContainerPathsEncodeTheirArguments) {
  EXPECT_EQ(detail::container_create_path(""), "/containers/create");
  EXPECT_EQ(detail::container_create_path("pb login/1"), "/containers/create?name=pb%20login%2F1");
  EXPECT_EQ(detail::container_remove_path("c1", true, false), "/containers/c1?force=1&v=0");
  EXPECT_EQ(detail::container_remove_path("c/1", false, true), "/containers/c%2F1?force=0&v=1");
  broker::LogOptions logs;
  logs.stderr_stream = false;
  EXPECT_EQ(detail::container_logs_path("c1", logs), "/containers/c1/logs?stdout=1&stderr=0");
  EXPECT_EQ(detail::archive_path("c1", "/home/u/.claude"), "/containers/c1/archive?path=%2Fhome%2Fu%2F.claude");
}

TEST(EngineWirePaths, AnImportSplitsTheTagAfterTheLastSlashAndEncodesEachChange) {
  EXPECT_EQ(detail::image_import_path("reg:5000/org/img:v1", {"CMD [\"sh\"]", "USER demo"}),
            "/images/create?fromSrc=-&repo=reg%3A5000%2Forg%2Fimg&tag=v1&changes=CMD%20%5B%22sh%22%5D"
            "&changes=USER%20demo");
  // The ':' of a registry's port is no tag.
  EXPECT_EQ(detail::image_import_path("reg:5000/img", {}), "/images/create?fromSrc=-&repo=reg%3A5000%2Fimg");
  EXPECT_EQ(detail::image_import_path("img", {}), "/images/create?fromSrc=-&repo=img");
}

// ------------------------------------------------------------ bodies

TEST(EngineWireBodies, AContainerCreationCarriesTheWholeSpec) {
  broker::ContainerSpec spec;
  spec.image = "busybox";
  spec.cmd = {"sh", "-c", "true"};
  spec.entrypoint = std::vector<std::string>{};
  spec.env = {"A=1"};
  spec.user = "1000:1000";
  spec.working_dir = "/w";
  spec.labels = {{"k", "v"}};
  spec.network_mode = "none";
  spec.extra_hosts = {"api:127.0.0.1"};
  spec.tty = true;
  spec.open_stdin = true;
  spec.memory_bytes = 64;
  spec.pids_limit = 32;
  spec.read_only_rootfs = true;
  spec.cap_drop = {"ALL"};
  spec.cap_add = {"CHOWN"};
  spec.security_opt = {"no-new-privileges"};
  spec.auto_remove = true;
  spec.log_max_size = "1m";
  broker::MountSpec volume{broker::MountSpec::Type::volume, "vol", "/v", true, true, {{"role", "keeper"}}};
  broker::MountSpec bind{broker::MountSpec::Type::bind, "/host", "/b", false, false, {}};
  broker::MountSpec tmpfs{broker::MountSpec::Type::tmpfs, "", "/t", false, false, {}};
  spec.mounts = {volume, bind, tmpfs};

  const json b = json::parse(detail::container_create_body(spec));
  EXPECT_EQ(b["Image"], "busybox");
  EXPECT_EQ(b["Cmd"], json({"sh", "-c", "true"}));
  EXPECT_EQ(b["Entrypoint"], json::array({""}));  // an empty entrypoint clears the image's only as [""]
  EXPECT_EQ(b["Env"], json({"A=1"}));
  EXPECT_EQ(b["User"], "1000:1000");
  EXPECT_EQ(b["WorkingDir"], "/w");
  EXPECT_EQ(b["Labels"], json({{"k", "v"}}));
  EXPECT_EQ(b["Tty"], true);
  EXPECT_EQ(b["OpenStdin"], true);
  EXPECT_EQ(b["AttachStdin"], true);
  EXPECT_EQ(b["StdinOnce"], false);
  EXPECT_EQ(b["AttachStdout"], true);
  EXPECT_EQ(b["AttachStderr"], true);
  EXPECT_EQ(b["NetworkDisabled"], true);
  const json& h = b["HostConfig"];
  EXPECT_EQ(h["NetworkMode"], "none");
  EXPECT_EQ(h["ExtraHosts"], json({"api:127.0.0.1"}));
  EXPECT_EQ(h["Memory"], 64);
  EXPECT_EQ(h["PidsLimit"], 32);
  EXPECT_EQ(h["ReadonlyRootfs"], true);
  EXPECT_EQ(h["AutoRemove"], true);
  EXPECT_EQ(h["CapDrop"], json({"ALL"}));
  EXPECT_EQ(h["CapAdd"], json({"CHOWN"}));
  EXPECT_EQ(h["SecurityOpt"], json({"no-new-privileges"}));
  EXPECT_FALSE(h.contains("RestartPolicy")) << "no container of ours is restarted by the engine";
  EXPECT_EQ(h["LogConfig"], json::parse(R"({"Type":"json-file","Config":{"max-size":"1m"}})"));
  ASSERT_EQ(h["Mounts"].size(), 3u);
  EXPECT_EQ(h["Mounts"][0], json::parse(R"({"Type":"volume","Source":"vol","Target":"/v","ReadOnly":true,
                                           "VolumeOptions":{"NoCopy":true,"Labels":{"role":"keeper"}}})"));
  EXPECT_EQ(h["Mounts"][1], json::parse(R"({"Type":"bind","Source":"/host","Target":"/b","ReadOnly":false})"));
  EXPECT_EQ(h["Mounts"][2], json::parse(R"({"Type":"tmpfs","Target":"/t","ReadOnly":false})"));
}

TEST(EngineWireBodies, AMinimalContainerCreationLeavesTheImagesDefaults) {
  broker::ContainerSpec spec;
  spec.image = "busybox";
  spec.network_mode = "host";
  const json b = json::parse(detail::container_create_body(spec));
  for (const char* absent : {"Cmd", "Entrypoint", "Env", "User", "WorkingDir", "NetworkDisabled"})
    EXPECT_FALSE(b.contains(absent)) << absent;
  EXPECT_EQ(b["Labels"], json::object());
  EXPECT_EQ(b["HostConfig"], json::parse(R"({"AutoRemove":false,"ReadonlyRootfs":false,"NetworkMode":"host"})"));
}

TEST(EngineWireBodies, ExecAndVolumeBodies) {
  broker::ExecSpec exec;
  exec.cmd = {"id"};
  EXPECT_EQ(json::parse(detail::exec_create_body(exec)),
            json::parse(R"({"AttachStdin":true,"AttachStdout":true,"AttachStderr":true,"Tty":false,"Cmd":["id"]})"));
  exec.env = {"A=1"};
  exec.user = "root";
  exec.working_dir = "/";
  exec.tty = true;
  const json e = json::parse(detail::exec_create_body(exec));
  EXPECT_EQ(e["Env"], json({"A=1"}));
  EXPECT_EQ(e["User"], "root");
  EXPECT_EQ(e["WorkingDir"], "/");
  EXPECT_EQ(e["Tty"], true);
  EXPECT_EQ(detail::exec_start_body(true), R"({"Detach":false,"Tty":true})");
  EXPECT_EQ(detail::exec_start_body(false), R"({"Detach":false,"Tty":false})");
  EXPECT_EQ(detail::volume_create_body("v", {{"k", "v"}}), R"({"Labels":{"k":"v"},"Name":"v"})");
}

// ------------------------------------------------------------ answers

TEST(EngineWireAnswers, AnswersThatAreNotJsonNameTheOperation) {
  auto r = detail::parse_image_inspect("<html>", "inspect image 'x'");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorKind::api);
  EXPECT_EQ(r.error().message, "Docker's answer to inspect image 'x' is not valid JSON");
  EXPECT_FALSE(detail::parse_container_inspect("", "op").ok());
  EXPECT_FALSE(detail::parse_volume_list("{", "op").ok());
  EXPECT_FALSE(detail::parse_version("nope", "op").ok());
}

TEST(EngineWireAnswers, AnImageInspectionIsReadFieldByField) {
  auto i = detail::parse_image_inspect(R"({"Id":"sha256:1","RepoTags":["a:1","b:2"],"Size":42,"Created":"2026-01-01",
      "Config":{"User":"node","Env":["A=1"],"Entrypoint":["/e"],"Cmd":["c"],"Labels":{"k":"v","n":7},
                "WorkingDir":"/w"},
      "RootFS":{"Layers":["sha256:l1","sha256:l2"]}})",
                                       "op");
  ASSERT_TRUE(i.ok());
  EXPECT_EQ(i->id, "sha256:1");
  EXPECT_THAT(i->repo_tags, ElementsAre("a:1", "b:2"));
  EXPECT_EQ(i->user, "node");
  EXPECT_THAT(i->env, ElementsAre("A=1"));
  EXPECT_THAT(i->entrypoint, ElementsAre("/e"));
  EXPECT_THAT(i->cmd, ElementsAre("c"));
  EXPECT_EQ(i->labels, (broker::Labels{{"k", "v"}}));  // a label that is not text is left out
  EXPECT_EQ(i->working_dir, "/w");
  EXPECT_THAT(i->layers, ElementsAre("sha256:l1", "sha256:l2"));
  EXPECT_EQ(i->size, 42);
  EXPECT_EQ(i->created, "2026-01-01");
}

TEST(EngineWireAnswers, MissingNullAndMistypedFieldsReadAsEmpty) {
  auto i = detail::parse_image_inspect(
      R"({"Id":null,"RepoTags":null,"Size":1e300,"Config":{"Entrypoint":"/bin/sh","Cmd":[1,"x"]},"RootFS":[]})", "op");
  ASSERT_TRUE(i.ok());
  EXPECT_EQ(i->id, "");
  EXPECT_TRUE(i->repo_tags.empty());
  EXPECT_EQ(i->size, 0);                               // a float is no size
  EXPECT_THAT(i->entrypoint, ElementsAre("/bin/sh"));  // a string is a list of one
  EXPECT_THAT(i->cmd, ElementsAre("x"));
  EXPECT_TRUE(i->layers.empty());
  auto empty = detail::parse_image_inspect("[]", "op");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->id, "");
  auto list = detail::parse_image_list(R"({"not":"a list"})", "op");
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->empty());
}

TEST(EngineWireAnswers, ImageAndContainerLists) {
  auto images = detail::parse_image_list(
      R"([{"Id":"sha256:1","RepoTags":["a:1"],"Labels":{"k":"v"},"Size":5,"Created":1700000000},{}])", "op");
  ASSERT_TRUE(images.ok());
  ASSERT_EQ(images->size(), 2u);
  EXPECT_EQ((*images)[0].id, "sha256:1");
  EXPECT_THAT((*images)[0].repo_tags, ElementsAre("a:1"));
  EXPECT_EQ((*images)[0].labels.at("k"), "v");
  EXPECT_EQ((*images)[0].size, 5);
  EXPECT_EQ((*images)[0].created, 1700000000);
  EXPECT_EQ((*images)[1].id, "");

  auto containers = detail::parse_container_list(R"([{"Id":"c1","Names":["/pb-1","x"],"Image":"busybox",
      "State":"running","Status":"Up 2 minutes","Labels":{"k":"v"},"Created":1700000001,"ImageID":"sha256:2"}])",
                                                 "op");
  ASSERT_TRUE(containers.ok());
  ASSERT_EQ(containers->size(), 1u);
  const auto& c = (*containers)[0];
  EXPECT_EQ(c.id, "c1");
  EXPECT_THAT(c.names, ElementsAre("pb-1", "x"));  // without the leading '/'
  EXPECT_EQ(c.image, "busybox");
  EXPECT_EQ(c.state, "running");
  EXPECT_EQ(c.status, "Up 2 minutes");
  EXPECT_EQ(c.labels.at("k"), "v");
  EXPECT_EQ(c.created, 1700000001);
  EXPECT_EQ(c.image_id, "sha256:2");
}

TEST(EngineWireAnswers, AContainerInspection) {
  auto c = detail::parse_container_inspect(R"({"Id":"c1","Name":"/pb-login","Image":"sha256:i",
      "State":{"Status":"exited","Running":false,"OOMKilled":true,"ExitCode":137,"Pid":0,"Error":"oom"},
      "Mounts":[{"Type":"volume","Name":"v","Source":"/var/lib/v","Destination":"/d","RW":true}],
      "Config":{"Labels":{"k":"v"},"User":"1000","Tty":true}})",
                                           "op");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->id, "c1");
  EXPECT_EQ(c->name, "pb-login");
  EXPECT_EQ(c->image, "sha256:i");
  EXPECT_EQ(c->state.status, "exited");
  EXPECT_FALSE(c->state.running);
  EXPECT_TRUE(c->state.oom_killed);
  EXPECT_EQ(c->state.exit_code, 137);
  EXPECT_EQ(c->state.error, "oom");
  ASSERT_EQ(c->mounts.size(), 1u);
  EXPECT_EQ(c->mounts[0].type, "volume");
  EXPECT_EQ(c->mounts[0].name, "v");
  EXPECT_EQ(c->mounts[0].source, "/var/lib/v");
  EXPECT_EQ(c->mounts[0].destination, "/d");
  EXPECT_TRUE(c->mounts[0].rw);
  EXPECT_EQ(c->labels.at("k"), "v");
  EXPECT_EQ(c->user, "1000");
  EXPECT_TRUE(c->tty);
}

TEST(EngineWireAnswers, ChangesWaitAndCreatedIds) {
  auto changes = detail::parse_container_changes(
      R"([{"Path":"/a","Kind":0},{"Path":"/b","Kind":1},{"Path":"/c","Kind":2},{"Path":"/d","Kind":7}])", "op");
  ASSERT_TRUE(changes.ok());
  ASSERT_EQ(changes->size(), 4u);
  EXPECT_EQ((*changes)[0].kind, broker::FileChange::Kind::modified);
  EXPECT_EQ((*changes)[1].kind, broker::FileChange::Kind::added);
  EXPECT_EQ((*changes)[2].kind, broker::FileChange::Kind::deleted);
  EXPECT_EQ((*changes)[3].kind, broker::FileChange::Kind::modified);
  EXPECT_EQ((*changes)[2].path, "/c");

  auto wait = detail::parse_container_wait(R"({"StatusCode":3,"Error":{"Message":"boom"}})", "op");
  ASSERT_TRUE(wait.ok());
  EXPECT_EQ(wait->exit_code, 3);
  EXPECT_EQ(wait->error, "boom");
  auto quiet = detail::parse_container_wait(R"({"StatusCode":0,"Error":null})", "op");
  ASSERT_TRUE(quiet.ok());
  EXPECT_EQ(quiet->error, "");

  auto id = detail::parse_created_id(R"({"Id":"abc","Warnings":[]})", "create a container", "an ID");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, "abc");
  auto none = detail::parse_created_id(R"({"Warnings":[]})", "run a command in container 'c'", "an exec ID");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().kind, ErrorKind::api);
  EXPECT_EQ(none.error().message, "Docker did not return an exec ID when asked to run a command in container 'c'");
}

TEST(EngineWireAnswers, VolumesExecsAndVersions) {
  auto v = detail::parse_volume(R"({"Name":"v","Driver":"local","Mountpoint":"/m","Labels":{"k":"v"}})", "op");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->name, "v");
  EXPECT_EQ(v->driver, "local");
  EXPECT_EQ(v->mountpoint, "/m");
  EXPECT_EQ(v->labels.at("k"), "v");
  auto list =
      detail::parse_volume_list(R"({"Volumes":[{"Name":"a"},{"Name":"b","Labels":null}],"Warnings":null})", "op");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1].name, "b");
  auto none = detail::parse_volume_list(R"({"Volumes":null})", "op");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  auto exec = detail::parse_exec_inspect(R"({"Running":true,"ExitCode":null,"ProcessConfig":{"tty":true}})", "op");
  ASSERT_TRUE(exec.ok());
  EXPECT_TRUE(exec->tty);
  EXPECT_TRUE(exec->running);
  EXPECT_EQ(exec->exit_code, 0);

  auto docker = detail::parse_version(
      R"({"Version":"24.0.7","ApiVersion":"1.43","MinAPIVersion":"1.12","Os":"linux","Arch":"amd64"})", "op");
  ASSERT_TRUE(docker.ok());
  EXPECT_EQ(docker->server_version, "24.0.7");
  EXPECT_EQ(docker->server_api_version, "1.43");
  EXPECT_EQ(docker->min_api_version, "1.12");
  EXPECT_EQ(docker->os, "linux");
  EXPECT_EQ(docker->arch, "amd64");
  EXPECT_EQ(docker->engine, "Docker");
  auto podman = detail::parse_version(R"({"Version":"4.3.1","Components":[{"Name":"Podman Engine"}]})", "op");
  ASSERT_TRUE(podman.ok());
  EXPECT_EQ(podman->engine, "Podman");
}

TEST(EngineWireAnswers, APathStatIsBase64OfJsonInAHeader) {
  auto s = detail::parse_path_stat(
      {{"x-docker-container-path-stat",
        "eyJuYW1lIjoiY2xhdWRlIiwic2l6ZSI6NDA5NiwibW9kZSI6MjE0NzQ4NDE0MSwibXRpbWUiOiIyMDI2LTAxLTAyVDAzOjA0OjA1WiIsImxp"
        "bmtUYXJnZXQiOiIifQ=="}},
      "op");
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->name, "claude");
  EXPECT_EQ(s->size, 4096);
  EXPECT_TRUE(s->is_dir());
  EXPECT_FALSE(s->is_symlink());
  EXPECT_EQ(s->mtime, "2026-01-02T03:04:05Z");
  // Unpadded, as some daemons send it.
  auto link = detail::parse_path_stat(
      {{"x-docker-container-path-stat", "eyJuYW1lIjoibGluayIsIm1vZGUiOjEzNDIxODIzOSwibGlua1RhcmdldCI6Ii94In0"}}, "op");
  ASSERT_TRUE(link.ok()) << link.error().message;
  EXPECT_TRUE(link->is_symlink());
  EXPECT_EQ(link->link_target, "/x");

  auto missing = detail::parse_path_stat({}, "look at '/x' in container 'c'");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message, "Docker did not describe the path when asked to look at '/x' in container 'c'");
  auto garbled = detail::parse_path_stat({{"x-docker-container-path-stat", "!!!!"}}, "op");
  ASSERT_FALSE(garbled.ok());
  EXPECT_EQ(garbled.error().message, "Docker's path description for op is not base64");
}

TEST(EngineWireAnswers, Base64WithAndWithoutPadding) {
  EXPECT_EQ(detail::base64_decode("aGVsbG8="), "hello");
  EXPECT_EQ(detail::base64_decode("aGVsbG8"), "hello");
  EXPECT_EQ(detail::base64_decode("aGk="), "hi");
  EXPECT_EQ(detail::base64_decode("aGk"), "hi");
  EXPECT_EQ(detail::base64_decode("aGVs"), "hel");
  EXPECT_EQ(detail::base64_decode(""), "");
  EXPECT_EQ(detail::base64_decode("a*b="), std::nullopt);
}

TEST(EngineWireAnswers, AnImportFailsOnAnErrorLineOfItsProgressStream) {
  EXPECT_TRUE(detail::import_verdict("", "import image 'x'").ok());
  EXPECT_TRUE(detail::import_verdict("{\"status\":\"Importing\"}\nnot json\n{\"status\":\"sha256:1\"}\n", "op").ok());
  Status s = detail::import_verdict("{\"status\":\"Importing\"}\n{\"error\":\"bad tar\\u0007\"}\n", "import image 'x'");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().kind, ErrorKind::api);
  EXPECT_EQ(s.error().message, "Docker could not import image 'x': bad tar?");
}

// ------------------------------------------------------------ versions and errors

TEST(DockerApiVersion, ComparesNumerically) {
  EXPECT_LT(compare_api_versions("1.9", "1.41"), 0);
  EXPECT_GT(compare_api_versions("1.43", "1.41"), 0);
  EXPECT_EQ(compare_api_versions("1.41", "1.41"), 0);
  EXPECT_EQ(compare_api_versions("1.40", "1.40.0"), 0);
  EXPECT_GT(compare_api_versions("2.0", "1.99"), 0);
}

TEST(DockerApiVersion, TheNewestBothSpeakIsChosenOrWhyThereIsNone) {
  const std::string host = "unix:///s";
  EXPECT_EQ(*detail::choose_api(host, "1.45", ""), "1.43");
  EXPECT_EQ(*detail::choose_api(host, "1.41", "1.12"), "1.41");
  EXPECT_EQ(*detail::choose_api(host, "1.25", ""), "1.25");
  auto message = [&](const std::string& api, const std::string& min) {
    auto r = detail::choose_api(host, api, min);
    EXPECT_FALSE(r.ok()) << api;
    if (r.ok()) return std::string();
    EXPECT_EQ(r.error().kind, ErrorKind::api);
    return r.error().message;
  };
  EXPECT_EQ(message("", ""), "Docker at unix:///s did not say which API version it speaks");
  EXPECT_EQ(message("1.41/../x", ""), "Docker at unix:///s named an API version that is not one ('1.41/../x')");
  EXPECT_EQ(message("1.41.1.1.1.1.1.1.1", ""),
            "Docker at unix:///s named an API version that is not one "
            "('1.41.1.1.1.1.1.1.1')");
  EXPECT_EQ(message("1.24", ""),
            "Docker at unix:///s speaks API 1.24, older than the 1.25 para-broker needs; "
            "upgrade Docker");
  EXPECT_EQ(message("1.45", "1.44"),
            "Docker at unix:///s no longer accepts API 1.43 (oldest 1.44); upgrade para-broker");
}

TEST(EngineWireErrors, TheDaemonsMessageIsItsJsonMessageElseTheBody) {
  EXPECT_EQ(detail::error_message(R"({"message":"No such image: x\n"})"), "No such image: x");
  EXPECT_EQ(detail::error_message("plain words\r\n"), "plain words");
  EXPECT_EQ(detail::error_message("bell\x07"), "bell?");
  EXPECT_EQ(detail::error_message(R"({"other":1})"), "");
  EXPECT_EQ(detail::error_message(""), "");
}

TEST(EngineWireErrors, StatusesBecomeErrorKindsNamingTheOperation) {
  const std::string host = "unix:///s";
  EXPECT_TRUE(detail::answer_status(200, "", "op", host).ok());
  EXPECT_TRUE(detail::answer_status(204, "junk", "op", host).ok());
  auto check = [&](unsigned status, const std::string& body, ErrorKind kind, const std::string& message) {
    Status s = detail::answer_status(status, body, "inspect image 'x'", host);
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().kind, kind);
    EXPECT_EQ(s.error().message, message);
  };
  check(404, R"({"message":"No such image: x"})", ErrorKind::not_found,
        "Docker could not inspect image 'x': No such image: x");
  check(409, R"({"message":"in use"})", ErrorKind::conflict, "Docker could not inspect image 'x': in use");
  check(500, R"({"message":"boom"})", ErrorKind::api, "Docker could not inspect image 'x' (HTTP 500): boom");
  check(502, "", ErrorKind::api, "Docker could not inspect image 'x' (HTTP 502): HTTP 502");
  check(304, "", ErrorKind::api, "Docker could not inspect image 'x' (HTTP 304): HTTP 304");
  check(400, R"({"message":"client version 1.43 is too old. Minimum supported API version is 1.44, please upgrade"})",
        ErrorKind::api,
        "Docker at unix:///s no longer accepts API 1.43 (client version 1.43 is too old. Minimum supported API "
        "version is 1.44, please upgrade); upgrade para-broker");
}

TEST(EngineWireErrors, ShortIdsShortenOnlyFullHexIds) {
  const std::string full(64, 'a');
  EXPECT_EQ(detail::short_id(full), "'aaaaaaaaaaaa'");
  EXPECT_EQ(detail::short_id("pb-login"), "'pb-login'");
  EXPECT_EQ(detail::short_id(std::string(64, 'z')), "'" + std::string(64, 'z') + "'");
}

// ------------------------------------------------------------ streams

using test::stream_frame;

TEST(DockerDemux, AppendCappedKeepsWithinTheCapAndSaysWhatItDropped) {
  auto bytes = [](std::string_view t) { return std::as_bytes(std::span(t.data(), t.size())); };
  std::string target = "ab";
  EXPECT_FALSE(broker::docker::append_capped(target, bytes("cd"), 4));
  EXPECT_EQ(target, "abcd");
  EXPECT_TRUE(broker::docker::append_capped(target, bytes("e"), 4));
  EXPECT_EQ(target, "abcd");
  std::string over = "abcdef";  // already past the cap: nothing more, and said so
  EXPECT_TRUE(broker::docker::append_capped(over, bytes("g"), 4));
  EXPECT_EQ(over, "abcdef");
  std::string part;
  EXPECT_TRUE(broker::docker::append_capped(part, bytes("hello"), 3));
  EXPECT_EQ(part, "hel");
  EXPECT_FALSE(broker::docker::append_capped(part, bytes(""), 3));
}

TEST(DockerDemux, SplitsFramesAcrossArbitraryReads) {
  std::string wire =
      stream_frame(1, "hello ") + stream_frame(2, "warn\n") + stream_frame(1, "world\n") + stream_frame(1, "");
  // Feed it one byte at a time: headers and payloads split anywhere.
  StreamDemuxer d(1024);
  for (char c : wire) d.feed(std::as_bytes(std::span(&c, 1)));
  EXPECT_EQ(d.out, "hello world\n");
  EXPECT_EQ(d.err, "warn\n");
  EXPECT_FALSE(d.truncated);
}

TEST(DockerDemux, CapsEachStreamAndFlagsTruncation) {
  std::string wire = stream_frame(1, std::string(100, 'a')) + stream_frame(2, "e");
  StreamDemuxer d(10);
  d.feed(std::as_bytes(std::span(wire)));
  EXPECT_EQ(d.out, std::string(10, 'a'));
  EXPECT_EQ(d.err, "e");  // the other stream still flows after the cap
  EXPECT_TRUE(d.truncated);
}

TEST(DockerDemux, ATtysOutputIsKeptAsItCameAndAnotherDemultiplexed) {
  const std::string wire = stream_frame(1, "out") + stream_frame(2, "err");
  broker::docker::OutputCollector tty(true, 5);
  tty.feed(std::as_bytes(std::span(wire)));
  std::string out, err;
  bool truncated = false;
  tty.take(out, err, truncated);
  EXPECT_EQ(out, wire.substr(0, 5));
  EXPECT_EQ(err, "");
  EXPECT_TRUE(truncated);

  broker::docker::OutputCollector plain(false, 5);
  plain.feed(std::as_bytes(std::span(wire)));
  plain.take(out, err, truncated);
  EXPECT_EQ(out, "out");
  EXPECT_EQ(err, "err");
  EXPECT_FALSE(truncated);
}

}  // namespace
}  // namespace pb
