// Command kube-oracle runs the JSON patch and merge patch cases of ../cases through
// the library kube-apiserver v1.37 applies them with (gopkg.in/evanphx/json-patch.v4,
// as k8s.io/apiserver's PATCH handler calls it) and writes what it answers, document
// or error text, to ../cases/kube_json_patch.json and ../cases/kube_merge_patch.json.
// The Rust harness compares ours and the json-patch crate against these answers.
//
// It also reads ../cases/certs.json (certificates, hex DER) with crypto/x509, the
// parser behind kube-apiserver's TLS and x509 authenticator (user = Subject.CommonName,
// groups = Subject.Organization), and the same mutations of the first certificate that
// the harness makes (every truncation, a bit flipped at every byte, every byte set to
// 0xff, 2000 random inputs from the same xorshift generator), and writes what it reads
// to ../cases/kube_certs.json.
//
// Run from this folder: go run .
package main

import (
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"os"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
)

type jsonPatchCase struct {
	ID        string          `json:"id"`
	Doc       json.RawMessage `json:"doc"`
	Patch     json.RawMessage `json:"patch"`
	PatchText string          `json:"patch_text"`
}

type mergePatchCase struct {
	ID    string          `json:"id"`
	Doc   json.RawMessage `json:"doc"`
	Patch json.RawMessage `json:"patch"`
}

// answer is one case's outcome: the patched document, or the error text.
type answer struct {
	Doc   json.RawMessage `json:"doc,omitempty"`
	Error *string         `json:"error,omitempty"`
}

func outcome(doc []byte, err error) answer {
	if err != nil {
		text := err.Error()
		return answer{Error: &text}
	}
	if doc == nil {
		doc = []byte("null")
	}
	return answer{Doc: doc}
}

func main() {
	var jsonCases []jsonPatchCase
	mustRead("../cases/json_patch.json", &jsonCases)
	jsonOut := map[string]answer{}
	for _, c := range jsonCases {
		patchBytes := []byte(c.Patch)
		if c.PatchText != "" {
			patchBytes = []byte(c.PatchText)
		}
		// As the PATCH handler does: decode (a failure is a 400), then apply (a 422).
		p, err := jsonpatch.DecodePatch(patchBytes)
		if err != nil {
			jsonOut[c.ID] = outcome(nil, err)
			continue
		}
		jsonOut[c.ID] = outcome(p.Apply([]byte(c.Doc)))
	}
	mustWrite("../cases/kube_json_patch.json", jsonOut)

	var mergeCases []mergePatchCase
	mustRead("../cases/merge_patch.json", &mergeCases)
	mergeOut := map[string]answer{}
	for _, c := range mergeCases {
		mergeOut[c.ID] = outcome(jsonpatch.MergePatch([]byte(c.Doc), []byte(c.Patch)))
	}
	mustWrite("../cases/kube_merge_patch.json", mergeOut)

	var certs []struct {
		Name string `json:"name"`
		DER  string `json:"der"`
	}
	mustRead("../cases/certs.json", &certs)
	certOut := map[string]*identity{}
	var ders [][]byte
	for _, c := range certs {
		der, err := hex.DecodeString(c.DER)
		if err != nil {
			panic(err)
		}
		ders = append(ders, der)
		certOut[c.Name] = read(der)
	}
	malformed := []*identity{}
	for _, input := range mutations(ders[0], 2000) {
		malformed = append(malformed, read(input))
	}
	mustWrite("../cases/kube_certs.json", map[string]any{"certs": certOut, "malformed": malformed})
}

// identity is what kube-apiserver's x509 authenticator takes from a certificate.
type identity struct {
	CN string   `json:"cn"`
	O  []string `json:"o"`
}

// read parses a certificate as the TLS handshake does; nil when Go refuses it.
func read(der []byte) *identity {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil
	}
	o := cert.Subject.Organization
	if o == nil {
		o = []string{}
	}
	return &identity{CN: cert.Subject.CommonName, O: o}
}

// mutations of der, in the harness's order (see its certs::malformed).
func mutations(der []byte, random int) [][]byte {
	var out [][]byte
	for n := 0; n < len(der); n++ {
		out = append(out, append([]byte{}, der[:n]...))
	}
	for i := range der {
		flipped := append([]byte{}, der...)
		flipped[i] ^= 1 << (i % 8)
		out = append(out, flipped)
		ff := append([]byte{}, der...)
		ff[i] = 0xff
		out = append(out, ff)
	}
	state := uint64(0x9e3779b97f4a7c15)
	next := func() uint64 {
		state ^= state << 13
		state ^= state >> 7
		state ^= state << 17
		return state
	}
	for r := 0; r < random; r++ {
		n := int(next() % 600)
		bytes := make([]byte, n)
		for j := range bytes {
			bytes[j] = byte(next())
		}
		if n > 0 {
			bytes[0] = 0x30
		}
		out = append(out, bytes)
	}
	return out
}

func mustRead(path string, into any) {
	data, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	if err := json.Unmarshal(data, into); err != nil {
		panic(err)
	}
}

func mustWrite(path string, value any) {
	data, err := json.MarshalIndent(value, "", "  ")
	if err != nil {
		panic(err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		panic(err)
	}
}
