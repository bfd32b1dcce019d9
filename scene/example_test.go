package scene_test

import (
	"fmt"
	"log"
	"os"

	"github.com/settlehq/settle/pyjson"
	"github.com/settlehq/settle/scene"
)

// A library program reads a scene body, changes one take's status and writes
// it back as the seed's save_scene would, with only the public packages
// pyjson and scene. The fingerprint is the seed's structure_fingerprint of
// the scene; a status change leaves it as it was.
func Example() {
	body := []byte(`{
  "schema_version": 1,
  "scene_id": "ep_001_B1",
  "beats": [
    {
      "beat_id": "S1",
      "beat_metadata": {"shot_count": 1},
      "takes": [{"take_id": "t1", "status": "running"}]
    }
  ]
}`)
	tree, err := pyjson.Parse(body)
	if err != nil {
		log.Fatal(err)
	}
	obj, ok := tree.(*pyjson.Object)
	if !ok {
		log.Fatal("a scene body is a JSON object")
	}
	sc, err := scene.FromTree(obj)
	if err != nil {
		log.Fatal(err)
	}
	take := sc.Beats[0].Takes[0]
	fmt.Println(sc.SceneID, sc.Beats[0].BeatID, take.TakeID, take.Status)
	before := scene.Fingerprint(sc)

	take.Status = scene.TakeSucceeded
	out, err := scene.EncodeBody(sc)
	if err != nil {
		log.Fatal(err)
	}
	os.Stdout.Write(out)
	fmt.Println()
	fmt.Println("fingerprint", scene.Fingerprint(sc))
	fmt.Println("unchanged by the status write:", scene.Fingerprint(sc) == before)
	// Output:
	// ep_001_B1 S1 t1 running
	// {
	//   "schema_version": 1,
	//   "scene_id": "ep_001_B1",
	//   "beats": [
	//     {
	//       "beat_id": "S1",
	//       "max_takes": 3,
	//       "beat_metadata": {
	//         "shot_count": 1
	//       },
	//       "takes": [
	//         {
	//           "take_id": "t1",
	//           "status": "succeeded",
	//           "created_at": null,
	//           "started_at": null,
	//           "finished_at": null,
	//           "artifact_path": null,
	//           "receipt": null,
	//           "error": null
	//         }
	//       ],
	//       "primary_take_id": null,
	//       "phantom_recovery_count": 0,
	//       "board": null,
	//       "approved": false
	//     }
	//   ],
	//   "scene_metadata": {},
	//   "locked": false,
	//   "lock_reason": null
	// }
	// fingerprint a36f0dbe03d82fab8658693c77c171e977f52f36a580e421cd34bf2a9f56d07e
	// unchanged by the status write: true
}
